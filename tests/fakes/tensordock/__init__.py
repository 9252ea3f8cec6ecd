"""A fake TensorDock v2 cloud speaking the wire format of providers/lambda-tensordock.md.

Bearer auth, the 100 requests/minute limit (switch: ``requests_per_minute``), ``/locations``
and ``/hostnodes`` with the documented (mixed-case) field names, ``POST /instances`` with the
documented validation, GET-one and list shapes selectable (``get_shape``, ``list_shape``),
and both error styles: non-2xx text/JSON and HTTP 200 ``{"error": "...", "status": 400}``.
Where the reference leaves something unconfirmed (error wording, 401/429 bodies, Retry-After,
pagination) the fake picks one plausible form; ``page_size`` switches on JSON:API
``links.next`` paging. Besides the shared faults, ``fail_next`` scripts ``empty_200`` and
``html_200`` on the instance get, list and delete routes: a 200 from something in front of the
API (a proxy or maintenance page), not TensorDock's answer.

State lives in the object and is guarded by a lock: tests script it from their own thread
while uvicorn serves it from another (see tests/fakes/http_server.py). ``state.py`` holds the
locations, VMs and scripting interface, ``routes.py`` the Starlette handlers.
"""

from tests.fakes.tensordock.routes import FakeTensorDockCloud

__all__ = ["FakeTensorDockCloud"]

"""A fake RunPod speaking the REST v2 wire format (see shared/providers/runpod-vastai.md §1, §4).

Serve it with ``serve_app(fake.app())``. All state lives on the FakeRunPodCloud object, so a
test (or a server subprocess talking to it over HTTP) can script faults, capacity, prices and
the workload's end. Handlers run on the server thread; a lock guards the state.

Emulated: bearer auth with the documented 401 body, ``GET/POST /v2/pods``,
``GET/PATCH/DELETE /v2/pods/{id}``, ``POST /v2/pods/{id}/action``, the SSE log stream,
``GET /v2/catalog/gpus[/{id}]`` (with the include/product rules) and
``GET /v2/catalog/datacenters``; problem+json errors, RateLimit headers, Retry-After on 429,
201/204 codes, 409 on an invalid action, 422 on unknown body fields, and the container
auto-restart of a pod whose command is not wrapped (a wrapped one idles after the sentinel).
Besides the shared faults, ``fail_next`` scripts ``empty_200`` and ``html_200`` on the pod get,
list and delete routes: a 200 from something in front of the API, not RunPod's answer.

``state.py`` holds the catalog, pods and scripting interface, ``wire.py`` the error bodies and
request validation, ``routes.py`` the Starlette handlers.
"""

from tests.fakes.runpod.routes import FakeRunPodCloud

__all__ = ["FakeRunPodCloud"]

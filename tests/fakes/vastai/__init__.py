"""A fake Vast.ai cloud speaking its documented wire format (providers/runpod-vastai.md, §2 and §4).

Serve it with ``serve_app(fake.app())``. All state lives on the object, guarded by a lock because
the server runs in another thread, so tests script it directly.

Pricing model: every GPU type is listed as machines with 1, 2, 4 and 8 GPUs. Offer prices are per
whole machine: ``dph_base`` for the GPUs plus ``allocated_storage * storage_cost / 720`` for disk.
``set_price(key, p)`` makes the 1-GPU machine cost exactly ``p`` per hour with the 50 GB disk
HarvestGPU prices offers at. A rented offer disappears (its id then answers 410/404) and a fresh
identical machine is listed in its place, so capacity only ends through ``set_capacity``.

``state.py`` holds machines, instances and the scripting interface, ``wire.py`` the error bodies
and query language, ``routes.py`` the Starlette handlers.
"""

from tests.fakes.vastai.routes import FakeVastAICloud

__all__ = ["FakeVastAICloud"]

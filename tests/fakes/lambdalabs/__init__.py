"""A fake Lambda Cloud speaking the v1 wire format of /work/shared/providers/lambda-tensordock.md.

Serve it with ``serve_app(fake.app())``. All state lives on the ``FakeLambdaCloud`` object so
tests can script it from their own thread while the app answers on the server's thread.

Emulated: Bearer and Basic(``key:``) auth, ``{"data": ...}`` / ``{"error": {...}}`` envelopes,
``/instance-types`` as a map, launch returning ids only, ``booting`` on the first status read
then ``active`` (with an ip), ``terminating`` -> ``terminated`` -> 404 after terminate, SSH keys
(exactly one at launch, generated pairs when no public key is sent), ``tags`` echoed as sent,
unpaginated lists. Lambda has no log API, so faults armed for ``logs`` are never consumed.

What the reference leaves UNCONFIRMED is switchable: ``rate_limit_retry_after_s`` (a 429's
Retry-After, absent by default) and ``terminating_reads`` (status reads that still say
``terminating`` after a terminate, 0 by default).

``state.py`` holds the instance types, instances and scripting interface, ``wire.py`` the error
envelopes, ``routes.py`` the Starlette handlers.
"""

from tests.fakes.lambdalabs.routes import FakeLambdaCloud

__all__ = ["FakeLambdaCloud"]

"""Per-form submit tokens for forms whose answer cannot be replayed (a secret shown once).

Every rendered create form carries a fresh random token (like the job form's ``submit_token``).
The first POST with a token claims it; a reload or second click of the same rendered form finds
it claimed and creates nothing. Tokens are kept in this process's memory (bounded); a POST
without a token is treated as a new form, as the API treats a request without Idempotency-Key.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict

from fastapi import Request

SUBMIT_FIELD = "submit_token"
_MAX_TOKENS = 20_000
_MAX_TOKEN_LEN = 200


def new_token() -> str:
    return secrets.token_urlsafe(16)


def _claimed(request: Request) -> OrderedDict[tuple[str, str, str], None]:
    store: OrderedDict[tuple[str, str, str], None] | None = getattr(
        request.app.state, "web_form_tokens", None
    )
    if store is None:
        store = OrderedDict()
        request.app.state.web_form_tokens = store
    return store


def claim(request: Request, user_id: str, form: str, token: str | None) -> bool:
    """True when this submission may go ahead; False when the same rendered form was already sent.

    There is no await between the check and the claim, so two concurrent posts cannot both win.
    """
    token = (token or "").strip()[:_MAX_TOKEN_LEN]
    if not token:
        return True
    store = _claimed(request)
    key = (user_id, form, token)
    if key in store:
        return False
    store[key] = None
    while len(store) > _MAX_TOKENS:
        store.popitem(last=False)
    return True


def release(request: Request, user_id: str, form: str, token: str | None) -> None:
    """Give a token back when the submission it claimed was refused, so the form can be fixed."""
    token = (token or "").strip()[:_MAX_TOKEN_LEN]
    if token:
        _claimed(request).pop((user_id, form, token), None)

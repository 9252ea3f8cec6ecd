"""Passwords (argon2id), API keys (hash only), JWTs (HS256) and provider-key encryption (AES-GCM)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

API_KEY_PREFIX = "hg_live_"
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# A real hash of a throwaway password, verified on unknown emails so that login takes the same
# time whether or not the account exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_id() -> str:
    """Short, URL- and cloud-name-safe identifier (lower-case hex)."""
    return secrets.token_hex(8)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_key_display_prefix(api_key: str) -> str:
    return api_key[: len(API_KEY_PREFIX) + 6]


class MasterKey:
    """The server's master secret: encrypts provider keys and signs JWTs (via derived keys)."""

    def __init__(self, secret: bytes) -> None:
        self._enc_key = hmac.new(secret, b"harvestgpu/provider-keys/v1", hashlib.sha256).digest()
        self.jwt_key = hmac.new(secret, b"harvestgpu/jwt/v1", hashlib.sha256).digest()
        self._aead = AESGCM(self._enc_key)

    @classmethod
    def load(cls, configured: str, data_dir: Path) -> MasterKey:
        if configured:
            return cls(configured.encode())
        path = data_dir / "master.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        return cls(path.read_text().strip().encode())

    def agent_token(self, job_id: str) -> str:
        """Per-job token a VM's boot script uses to post logs; derived, so a relaunch reuses it."""
        return hmac.new(self.jwt_key, b"agent:" + job_id.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """AES-256-GCM; ``context`` (e.g. the owning user id) is bound as associated data."""
        nonce = secrets.token_bytes(12)
        ct = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return base64.b64encode(nonce + ct).decode()

    def decrypt(self, token: str, *, context: str) -> str:
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()

    def issue_jwt(self, user_id: str, ttl_hours: float) -> tuple[str, datetime]:
        now = datetime.now(UTC)
        expires = now + timedelta(hours=ttl_hours)
        # iat with sub-second precision: a sign-out revokes tokens issued before it, and a
        # login right after one must not be revoked with them.
        claims = {"sub": user_id, "exp": expires, "iat": now.timestamp(), "typ": "access"}
        token = jwt.encode(claims, self.jwt_key, algorithm="HS256")
        return token, expires

    def verify_jwt(self, token: str) -> str | None:
        claims = self.jwt_claims(token)
        return claims[0] if claims else None

    def jwt_claims(self, token: str) -> tuple[str, float] | None:
        """(user id, issued-at as a POSIX time; 0 if the token has none) of a valid token."""
        try:
            claims = jwt.decode(
                token, self.jwt_key, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.PyJWTError:
            return None
        sub, iat = claims.get("sub"), claims.get("iat", 0)
        if not isinstance(sub, str) or not isinstance(iat, int | float):
            return None
        return sub, float(iat)

"""The SSH key pair some VM clouds insist on at launch (Lambda, TensorDock).

HarvestGPU never logs into instances; the key only satisfies the clouds' APIs. One ed25519
pair per server, generated on first use in the data dir (private key mode 0600).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def load_or_create_public_key(data_dir: Path) -> str:
    private_path = data_dir / "ssh_ed25519"
    public_path = data_dir / "ssh_ed25519.pub"
    if not public_path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        public_path.write_text(public.decode() + " harvestgpu\n")
    return public_path.read_text().strip()

"""Where the box keeps its files. One place names every path so nothing writes elsewhere by accident."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataDirectory:
    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike) -> DataDirectory:
        return cls(Path(path).resolve())

    @property
    def database(self) -> Path:
        return self.root / "netsenx.db"

    @property
    def rate_limit_database(self) -> Path:
        return self.root / "ratelimit.db"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def key_file(self) -> Path:
        return self.keys / "data.key"

    @property
    def sealing_file(self) -> Path:
        return self.keys / "sealing.json"

    @property
    def unseal_failures(self) -> Path:
        """The count of wrong passphrases in a row (not a secret; the store itself is sealed)."""
        return self.root / "unseal-failures.db"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def certificate(self) -> Path:
        return self.tls / "cert.pem"

    @property
    def certificate_key(self) -> Path:
        return self.tls / "key.pem"

    @property
    def packets(self) -> Path:
        """The packet store: one ring of sealed pcap segments per sensor (sensor/packets/ring.py)."""
        return self.root / "packets"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def runtime(self) -> Path:
        """Where an unsealed key lives while the box runs: tmpfs (RAM), never the data disk.

        Granian workers are separate processes; the one that receives the passphrase leaves the derived
        key here so that its siblings unseal too. A stolen disk never holds it.
        """
        override = os.environ.get("NETSENX_RUNTIME_DIR")
        if override:
            return Path(override)
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        return Path("/dev/shm") / f"netsenx-{digest}"

    @property
    def unsealed_key_file(self) -> Path:
        return self.runtime / "data.key"

    def is_initialised(self) -> bool:
        return self.database.exists()


def write_private_file(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600 so a reader never sees a half-written or world-readable secret."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)

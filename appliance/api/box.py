"""What one API worker knows about the box: its data directory and, once unsealed, the open store."""

from __future__ import annotations

import threading

from appliance.store import keys
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store


class Box:
    def __init__(self, data_dir: DataDirectory) -> None:
        self.data_dir = data_dir
        self._store: Store | None = None
        self._token_secret: str | None = None
        self._lock = threading.Lock()

    def store(self) -> Store:
        """The open store. Raises keys.SealedError until the passphrase has been given (by any worker)."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = Store(self.data_dir, keys.load_key(self.data_dir))
        return self._store

    def is_sealed(self) -> bool:
        try:
            self.store()
        except keys.SealedError:
            return True
        return False

    def unseal(self, passphrase: str) -> None:
        """Derive the key, prove it opens the database, then share it with the sibling workers."""
        key = keys.key_from_passphrase(self.data_dir, passphrase)
        with self._lock:
            self._store = Store(self.data_dir, key)
        keys.remember_unsealed_key(self.data_dir, key)

    def token_secret(self) -> str:
        if self._token_secret is None:
            self._token_secret = self.store().get_setting("token_signing_secret")
        return self._token_secret

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def seal(self) -> None:
        """The server is stopping (or reloading its workers): wipe the shared unsealed key, so whatever starts
        next is sealed. A crashed worker never gets here; its respawned successor finds the key of its
        still-running server."""
        keys.forget_unsealed_key(self.data_dir)

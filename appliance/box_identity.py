"""The box's identity: a stable random id and an Ed25519 key that signs its statements (trace checkpoints).

Both live in the encrypted database, created on first use; only the public key ever leaves the box.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

if TYPE_CHECKING:  # `appliance traces verify` checks an exported trail without a store
    from appliance.store.database import Store


def box_id(store: Store) -> str:
    with store.write_transaction():
        existing = store.get_setting("box_id")
        if existing:
            return existing
        created = f"box-{uuid.uuid4()}"
        store.set_setting("box_id", created)
        return created


def signing_key(store: Store) -> Ed25519PrivateKey:
    with store.write_transaction():
        stored = store.get_setting("box_signing_key")
        if stored:
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(stored))
        key = Ed25519PrivateKey.generate()
        store.set_setting("box_signing_key", key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex())
        return key


def public_key_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

"""The sensor's on-disk outbox: durable, ordered, never reusing a seq, bounded with counted loss."""

from __future__ import annotations

import os
import stat

import pytest

from sensor.shipping.spool import Spool, SpoolError
from sensor.shipping.spool_cipher import SEALED_OVERHEAD


def payload(seq: int) -> bytes:
    return f"batch-{seq}".encode() * 10


def test_batches_survive_a_restart_in_order_and_seqs_continue(tmp_path):
    spool = Spool(tmp_path, "sensor-a")
    assert [spool.append(payload) for _ in range(3)] == [0, 1, 2]
    spool.remove(0)
    (tmp_path / "00000000000000000003.tmp").write_bytes(b"half-written")  # a crash mid-write
    reopened = Spool(tmp_path, "sensor-a")
    assert len(reopened) == 2 and reopened.oldest() == (1, payload(1))
    assert not list(tmp_path.glob("*.tmp"))
    assert reopened.append(payload) == 3


def test_a_drained_spool_still_never_reuses_a_seq(tmp_path):
    spool = Spool(tmp_path, "sensor-a")
    for seq in [spool.append(payload) for _ in range(5)]:
        spool.remove(seq)
    assert len(spool) == 0
    assert Spool(tmp_path, "sensor-a").append(payload) == 5


def test_continue_from_skips_seqs_the_appliance_already_has(tmp_path):
    spool = Spool(tmp_path, "sensor-a")
    spool.continue_from(40)
    spool.continue_from(7)  # never backwards
    assert spool.append(payload) == 40


def test_the_cap_drops_the_oldest_and_counts_them(tmp_path):
    size = len(payload(0)) + SEALED_OVERHEAD  # the cap counts the bytes on disk
    spool = Spool(tmp_path, "sensor-a", max_bytes=3 * size)
    for _ in range(5):
        spool.append(payload)
    assert len(spool) == 3 and spool.lost_batches == 2 and spool.oldest()[0] == 2
    assert Spool(tmp_path, "sensor-a").lost_batches == 2  # the count is durable too


def test_one_spool_per_sensor(tmp_path):
    Spool(tmp_path, "sensor-a").append(payload)
    with pytest.raises(SpoolError, match="belongs to sensor 'sensor-a'"):
        Spool(tmp_path, "sensor-b")
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(SpoolError, match="unreadable spool state"):
        Spool(tmp_path, "sensor-a")


# What the tester found in a plaintext spool: DNS names and an FTP user name.
CANARIES = (b"ZEBRA-ftp-user-4471", b"canary-host.example.org")


def secret_payload(seq: int) -> bytes:
    return b"batch %d: login %s, query %s" % (seq, *CANARIES)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_holding_canaries(root) -> list:
    return [path for path in root.rglob("*") if path.is_file() and any(c in path.read_bytes() for c in CANARIES)]


def test_batches_are_encrypted_at_rest_and_only_the_sensor_can_read_the_files(tmp_path):
    spool = Spool(tmp_path / "spool", "sensor-a")
    assert [spool.append(secret_payload) for _ in range(3)] == [0, 1, 2]
    assert files_holding_canaries(tmp_path) == []
    files = list((tmp_path / "spool").iterdir())
    assert {path.name for path in files} >= {"spool.key", "state.json", "00000000000000000000.batch"}
    assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
    assert mode(tmp_path / "spool") == 0o700
    assert Spool(tmp_path / "spool", "sensor-a").oldest() == (0, secret_payload(0))  # the key is reused


def test_a_plaintext_spool_of_an_earlier_version_is_sealed_once_then_delivered(tmp_path):
    # What the earlier version left: plaintext batches and state, mode 0644, no key file.
    (tmp_path / "state.json").write_bytes(b'{"agent_id":"sensor-a","next_seq":2,"lost_batches":0}')
    for seq in (0, 1):
        (tmp_path / f"{seq:020d}.batch").write_bytes(secret_payload(seq))
    for path in tmp_path.iterdir():
        path.chmod(0o644)
    spool = Spool(tmp_path, "sensor-a")
    assert files_holding_canaries(tmp_path) == []
    assert all(mode(path) == 0o600 for path in tmp_path.iterdir())
    assert spool.oldest() == (0, secret_payload(0))
    spool.remove(0)
    assert Spool(tmp_path, "sensor-a").oldest() == (1, secret_payload(1))
    assert spool.append(payload) == 2


def test_the_key_file_can_live_elsewhere_and_is_never_replaced_while_batches_wait_for_it(tmp_path):
    key_file = tmp_path / "keys" / "sensor-a.key"
    spool = Spool(tmp_path / "spool", "sensor-a", key_file=key_file)
    spool.append(secret_payload)
    assert mode(key_file) == 0o600 and not (tmp_path / "spool" / "spool.key").exists()
    assert Spool(tmp_path / "spool", "sensor-a", key_file=key_file).oldest() == (0, secret_payload(0))
    key_file.rename(tmp_path / "keys" / "moved-away.key")
    with pytest.raises(SpoolError, match=r"holds 1 encrypted batches but its key file .* is missing"):
        Spool(tmp_path / "spool", "sensor-a", key_file=key_file)
    assert not key_file.exists()  # no new key was made over the waiting batch
    key_file.write_text("not a key\n")
    os.chmod(key_file, 0o644)
    with pytest.raises(SpoolError, match="readable by others"):
        Spool(tmp_path / "spool", "sensor-a", key_file=key_file)


def test_a_batch_that_does_not_decrypt_is_set_aside_and_counted_not_a_crash(tmp_path):
    spool = Spool(tmp_path, "sensor-a")
    for _ in range(3):
        spool.append(secret_payload)
    first, second = (tmp_path / f"{seq:020d}.batch" for seq in (0, 1))
    corrupted = bytearray(first.read_bytes())
    corrupted[-1] ^= 1
    first.write_bytes(bytes(corrupted))
    second.write_bytes((tmp_path / f"{2:020d}.batch").read_bytes())  # another seq's file: bound to seq 2
    reopened = Spool(tmp_path, "sensor-a")
    assert reopened.oldest() == (2, secret_payload(2))
    assert reopened.lost_batches == 2 and len(reopened) == 1
    assert sorted(path.name for path in tmp_path.glob("*.unreadable")) == [
        "00000000000000000000.unreadable",
        "00000000000000000001.unreadable",
    ]

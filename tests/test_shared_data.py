"""The shared data is found next to the checkout, and a missing part of it is an error, never an empty list
(which a parametrize would turn into a silent skip)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_data import PCAPS, PRODUCT, SHARED, SharedDataMissing, shared_files

CHECKOUT = Path(__file__).resolve().parents[1]


def test_the_shared_folder_is_the_checkouts_sibling_and_holds_what_tests_read():
    assert CHECKOUT.parent / "shared" == SHARED
    assert PRODUCT.is_file() and (PCAPS / "modbus.pcap").is_file()


def test_a_glob_over_missing_data_raises_and_says_where_the_data_was_expected(tmp_path):
    with pytest.raises(SharedDataMissing, match=f"no \\*.pcap in {tmp_path}: the shared data is missing"):
        shared_files(tmp_path, "*.pcap")
    with pytest.raises(SharedDataMissing):
        shared_files(tmp_path / "not-there", "**/*")


def test_a_glob_finds_files_in_sub_folders_sorted_and_never_folders(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.pcap").write_bytes(b"")
    (tmp_path / "a.pcap").write_bytes(b"")
    (tmp_path / "folder.pcap").mkdir()
    assert shared_files(tmp_path, "**/*.pcap") == [tmp_path / "a.pcap", tmp_path / "b" / "z.pcap"]

"""Where the tests find the project's shared data: the folder `shared` next to the checkout (real captures,
PRODUCT.md), found relative to this file so that any checkout on any machine works.

A test that needs the shared data fails when it is missing, never skips: parametrizing over an empty glob
would make pytest skip silently ("got empty parameter set"), so globs go through `shared_files`.
"""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"  # <checkout>/tests/shared_data.py -> <checkout>/../shared
PCAPS = SHARED / "data" / "pcaps"
PRODUCT = SHARED / "PRODUCT.md"


class SharedDataMissing(FileNotFoundError):
    """The shared data a test needs is not where the checkout expects it."""


def shared_files(folder: Path, pattern: str) -> list[Path]:
    """The files under `folder` matching `pattern` (a glob; `**/` for sub-folders), sorted; never empty."""
    found = sorted(path for path in folder.glob(pattern) if path.is_file())
    if not found:
        raise SharedDataMissing(f"no {pattern} in {folder}: the shared data is missing (expected at {SHARED})")
    return found

"""The paging parameter every list endpoint shares, bounded in one place."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

# SQLite binds integers as signed 64 bits: a larger offset would fail in the driver (a 500), so it is refused
# with the other invalid parameters (a 400 with its detail). Nothing is that far in anyway.
SQLITE_INTEGER_MAX = 2**63 - 1

Offset = Annotated[int, Parameter(ge=0, le=SQLITE_INTEGER_MAX, description="results to skip")]

"""The paging parameter every list endpoint shares, bounded in one place."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

# SQLite binds integers as signed 64 bits: a larger offset failed in the driver (a 500); it is refused with
# the other invalid parameters (a 400 with its detail). The bound sits below 2**63 - 1 at a number the
# OpenAPI's float can state exactly (2**63 - 1 is written 9.223372036854776e18, which is 2**63 and would
# promise clients more than the box takes). No list comes near it.
MAX_OFFSET = 10**18

Offset = Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="results to skip")]

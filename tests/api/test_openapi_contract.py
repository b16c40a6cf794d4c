"""Schemathesis over every operation of a real box (Granian), checked against the box's own OpenAPI.

The operations that revoke the run's tokens or erase the box run on a throw-away box of their own. The number
of examples is bounded so that the whole test stays well under two minutes on two cores; the longer run is
tests/benchmarks/bench_api_contract.py. What the harness leaves out, and why, is in tests/api/openapi_contract.py.
"""

from __future__ import annotations

import pytest

from tests.api import openapi_contract as contract
from tests.conftest import free_port

pytestmark = pytest.mark.e2e

EXAMPLES = 3
SEED = 14


def serve_seeded(serve, tmp_path, name: str):
    box = contract.seed_box(contract.DataDirectory.at(tmp_path / name))
    server = serve(box.data_dir, workers=1, extra_env=contract.server_environment(box, free_port()))
    return box, server


def settings(server, box):
    tokens = contract.tokens(server.url, box)
    return contract.config(box, tokens["user"], tokens["agent"], EXAMPLES, SEED)


def test_every_operation_answers_as_its_openapi_says(serve, tmp_path):
    box, server = serve_seeded(serve, tmp_path, "box")
    result = contract.run(server.url, settings(server, box), but=contract.EVERYTHING_ELSE)
    assert result.operations >= 50 and result.cases > 500
    assert set(result.checks_run) == set(contract.CHECKS)
    assert not result.failures and not result.errors, result.report()


def test_revoking_and_erasing_operations_on_a_throw_away_box(serve, tmp_path):
    box, server = serve_seeded(serve, tmp_path, "throw-away")
    before_erasure = settings(server, box)  # taken first: the gatekeeping run may revoke them
    erasure = settings(server, box)
    result = contract.run(server.url, before_erasure, only=contract.GATEKEEPING)
    result.merge(contract.run(server.url, erasure, only=contract.ERASURE))
    assert result.operations == 5
    assert not result.failures and not result.errors, result.report()
    assert not box.data_dir.database.exists()  # the erasure did run: the box answered 410 after it

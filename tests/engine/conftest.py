from __future__ import annotations

import pytest

from appliance.engine.process import Engine
from appliance.ingest.local_sensor import queue_capture_files


@pytest.fixture(scope="session")
def scorer():
    from appliance.engine.scoring import Scorer

    return Scorer.load()


@pytest.fixture
def analyse(store, scorer):
    """Queue capture files as the box's own sensor would, and run the engine until the queue is empty."""

    def run(*paths, agent_id: str = "local") -> Engine:
        queue_capture_files(store, paths, agent_id=agent_id)
        engine = Engine(store, scorer)
        engine.process_all()
        return engine

    return run

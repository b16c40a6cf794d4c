from tests.engine.conftest import analyse, scorer  # noqa: F401 - the engine over real captures, as tests/engine runs it

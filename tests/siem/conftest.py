from __future__ import annotations

import pytest

from tests.agents.licensed_box import current_license, license_key, trusted_vendor  # noqa: F401  (fixtures)
from tests.licensing.conftest import make_license, vendor_key  # noqa: F401  (fixtures)
from tests.notifications.conftest import AlertMaker, ca, rsyslog  # noqa: F401  (fixtures)


@pytest.fixture
def alerts(store) -> AlertMaker:
    return AlertMaker(store)

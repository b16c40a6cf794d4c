from tests.agents.licensed_box import current_license, license_key, trusted_vendor  # noqa: F401  (fixtures)
from tests.billing.vendor_process import linked_box, vendor_service  # noqa: F401  (fixtures)
from tests.licensing.conftest import make_license, vendor_key  # noqa: F401  (fixtures)

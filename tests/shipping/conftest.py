from tests.agents.licensed_box import current_license, license_key, trusted_vendor  # noqa: F401  (fixtures)
from tests.licensing.conftest import make_license, vendor_key  # noqa: F401  (fixtures)
from tests.shipping.appliance_process import appliance, shared_box  # noqa: F401  (fixtures)

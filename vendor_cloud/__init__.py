"""What the vendor runs in its own cloud, never on a box: the licensing service (`licensing`). It shares the
license format, plans and protocol with the box through `appliance.licensing`, and is installed on its own
(vendor_cloud/pyproject.toml), so the box image never carries it or its Stripe client."""

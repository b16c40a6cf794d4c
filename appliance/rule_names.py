"""The detection rules the product names (PRODUCT.md "Detections"), with their default severities.

Taken from the engine's rule registry, so a rule exists in one place: its module.
"""

from appliance.engine.rules import RULE_MODULES

DEFAULT_SEVERITIES = {name: module.DEFAULT_SEVERITY for name, module in RULE_MODULES.items()}

RULE_NAMES = frozenset(DEFAULT_SEVERITIES)

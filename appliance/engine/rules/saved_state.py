"""The rule layer's state as bytes, so that the engine can checkpoint it and, after a restart, continue
exactly where an uninterrupted run would.

What is saved: every attribute of every rule except its configuration (`Rule.CONFIGURATION`), and each
incident book's open incidents. It is pickled: rule state is many small objects of the rules' own classes
(windows, capped sets, deques, records), and a hand-written format per rule would turn every rule change into
a format change. Three things keep that sound:
- configuration is never saved: an attribute that refers to the site, the baseline, a rule's thresholds or a
  part of the site is saved as that object's name (`Shared`) and bound to the running engine's on restore;
- restoring builds only classes of the rule package, the record contract, detection.py and a few
  containers (`ALLOWED`): nothing else is imported and no other function is called, so the bytes cannot run
  code (they come from the box's own encrypted store anyway). Configuration reached any other way than a
  rule's own attribute is of a class outside that list, so saving it is caught when restoring, in tests;
- the engine stores the state with the fingerprint of the code and configuration that made it
  (`RuleSet.fingerprint`) and discards it when they changed, rather than restoring state whose meaning did.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

FORMAT = "rule-state-1"
RULE_PACKAGE = "appliance.engine.rules."
# What a saved state may hold besides the rule package's own classes: whole modules, then single names.
ALLOWED_MODULES = ("appliance.engine.detection", "sensor.records")
ALLOWED = {
    "collections": {"OrderedDict", "deque", "Counter"},
    "builtins": {"set", "frozenset", "bytearray"},
    "msgspec._utils": {"rebuild"},  # msgspec's unpickling of keyword-only Structs: cls(**fields)
}


class StateError(ValueError):
    """The saved state cannot be restored (corrupt, from other code, or holding what it may not)."""


class Shared(tuple):
    """In saved state: the name of a configuration object, e.g. ("site", "threat_intel")."""


class _Restorer(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(RULE_PACKAGE) or module in ALLOWED_MODULES:
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        elif name in ALLOWED.get(module, ()):
            return super().find_class(module, name)
        raise StateError(f"the saved state may not contain {module}.{name}")


def dump(state: Any) -> bytes:
    return pickle.dumps(state, protocol=5)


def load(data: bytes) -> Any:
    try:
        return _Restorer(io.BytesIO(data)).load()
    except StateError:
        raise
    except Exception as error:  # a truncated or corrupt blob fails in many ways, each of them the same here
        raise StateError(f"the saved state is unreadable: {type(error).__name__}: {error}") from None

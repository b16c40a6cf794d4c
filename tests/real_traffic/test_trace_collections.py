"""The Zeek and suricata-verify test traces (2,264 real captures, many malformed on purpose) through the real
sensor pipeline and rules, one capture at a time: nothing crashes, the attacks read out of them raise their
rules, and every HIGH or CRITICAL alert has a written justification (justifications.json)."""

from __future__ import annotations

import pytest

from appliance.engine.rules import RULE_MODULES
from tests.real_traffic.captures import ATTACKS_IN_TRACES, COLLECTIONS, incidents, justifications, trace_files

SERIOUS = {"HIGH", "CRITICAL"}


@pytest.mark.parametrize("collection", sorted(COLLECTIONS))
def test_every_serious_alert_on_the_test_traces_is_justified(collection):
    files = trace_files(collection)
    assert len(files) > 700, f"the {collection} folder is missing or incomplete"
    written = {key for key in justifications() if key[0].startswith(collection + "/")}
    raised, unjustified, missed = set(), [], []
    for path in files:
        name = f"{collection}/{path.relative_to(COLLECTIONS[collection])}"
        found = incidents(path)
        for detection in found:
            key = (name, detection.rule_name, detection.source_ip)
            if RULE_MODULES[detection.rule_name].DEFAULT_SEVERITY in SERIOUS:
                raised.add(key)
                if key not in written:
                    unjustified.append((*key, detection.dest_ip, detection.evidence))
        seen = {(d.rule_name, d.source_ip) for d in found}
        missed += [(name, *attack) for attack in ATTACKS_IN_TRACES.get(name, ()) if attack not in seen]
    assert unjustified == []
    assert missed == []
    assert written - raised == set(), "justifications for alerts that no longer stand: remove them"

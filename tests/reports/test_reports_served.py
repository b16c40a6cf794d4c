"""Reports through the real server (Granian, two workers): PDFs come back whole, and their own rate limit
(the seed's 10/hour, lowered here to 3 to keep the test short) holds across workers."""

from __future__ import annotations

import json

import pytest

from appliance.server.rate_limits import DEFAULT_LIMITS, Limit
from tests.compliance.sample_alerts import C2_EVIDENCE, C2_SHAP, add_alert
from tests.conftest import login
from tests.reports.conftest import ENTITY, ReadBack, install_license

pytestmark = pytest.mark.e2e


def test_reports_are_served_then_rate_limited(store, serve, data_dir, vendor_key):
    assert DEFAULT_LIMITS["reports"] == Limit(10, 3600)
    install_license(store, vendor_key, expires_in_days=200)
    alert = add_alert(store.connection(), severity="CRITICAL", rule_name="C2_BEACON", shap=C2_SHAP,
                      evidence=C2_EVIDENCE)
    server = serve(data_dir, workers=2, extra_env={"NETSENX_RATE_LIMITS": json.dumps({"reports": [3, 3600]})})
    with server.client() as client:
        headers = login(client)
        assert client.put("/compliance/settings", json={"entity_name": ENTITY}, headers=headers).status_code == 200
        for kind, body in [("nis2", {"alert_id": alert}), ("nis2", {"alert_id": alert, "stage": "final"}),
                           ("gdpr", {"alert_id": alert})]:
            response = client.post(f"/reports/{kind}", json=body, headers=headers)
            assert response.status_code == 200, response.text
            pdf = ReadBack(response.content)
            assert pdf.has(ENTITY) and pdf.attachment_json()["alerts"][0]["id"] == alert
        refused = client.post("/reports/nis2", json={"alert_id": alert}, headers=headers)
        assert refused.status_code == 429 and refused.json()["detail"]
        assert refused.headers["x-ratelimit-limit"] == "3"
        # only report generation is limited this tightly
        assert client.get("/compliance/status", headers=headers).status_code == 200

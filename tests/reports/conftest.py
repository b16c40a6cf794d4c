"""A licensed box with an incident to report on, and a way to read a PDF back."""

from __future__ import annotations

import io
import json
import re
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pypdf import PdfReader

from appliance.licensing import box_license
from appliance.licensing.keys import License, encode_license, key_id, public_key_text
from appliance.licensing.plans import PLAN_FEATURES
from tests.compliance.sample_alerts import C2_EVIDENCE, C2_SHAP, add_alert

ENTITY = "Aguas de Castilla S.A. — Łódź branch"  # outside Latin-1 on purpose
SETTINGS = {"entity_name": ENTITY, "sector": "drinking_water", "member_state": "ES",
            "entity_contact": "SOC duty phone +34 600 000 000", "csirt_contact": "incidentes@incibe-cert.es",
            "authority_contact": "Agencia Española de Protección de Datos", "dpo_contact": "dpo@aguas.example"}


@pytest.fixture
def vendor_key(monkeypatch) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    monkeypatch.setenv(box_license.VENDOR_KEYS_ENV, public_key_text(key.public_key()))
    return key


def install_license(store, vendor_key, *, expires_in_days: float, plan: str = "professional") -> None:
    now = time.time()
    license = License(license_id="lic_reports", customer="Aguas de Castilla", plan=plan,
                      features=PLAN_FEATURES[plan], max_sensors=3, issued_at=int(now - 400 * 86400),
                      expires_at=int(now + expires_in_days * 86400), key_id=key_id(vendor_key.public_key()))
    box_license.install(store, encode_license(license, vendor_key), box_license.trusted_keys())


class Case:
    """The alerts and incident the report tests share."""

    def __init__(self, store, api, headers) -> None:
        connection = store.connection()
        self.aware_at = time.time() - 20 * 3600
        self.c2 = add_alert(connection, severity="CRITICAL", rule_name="C2_BEACON", source_ip="10.0.0.23",
                            dest_ip="185.220.101.4", port=443, score=0.93, timestamp=int(self.aware_at - 600),
                            shap=C2_SHAP, evidence=C2_EVIDENCE)
        self.exfil = add_alert(connection, severity="HIGH", rule_name="DATA_EXFILTRATION", source_ip="10.0.0.23",
                               dest_ip="185.220.101.4", port=443, score=0.81, timestamp=int(self.aware_at - 300),
                               evidence={"bytes_out": 734_003_200})
        self.lone = add_alert(connection, severity="MEDIUM", rule_name="CLEARTEXT_CREDENTIALS", source_ip="10.0.0.40",
                              dest_ip="10.0.0.2", port=21, score=0.5, evidence={"username": "ftpuser"})
        assert api.put("/compliance/settings", json=SETTINGS, headers=headers).status_code == 200
        response = api.post("/compliance/incidents", headers=headers, json={
            "title": "C2 beaconing and exfiltration from the SCADA HMI", "alert_ids": [self.c2, self.exfil],
            "aware_at": self.aware_at})
        assert response.status_code == 201, response.text
        self.incident = response.json()


@pytest.fixture
def case(store, api, admin_headers, vendor_key) -> Case:
    install_license(store, vendor_key, expires_in_days=200)
    return Case(store, api, admin_headers)


class ReadBack:
    def __init__(self, content: bytes) -> None:
        assert content.startswith(b"%PDF-"), content[:200]
        self.reader = PdfReader(io.BytesIO(content))
        raw = "\n".join(page.extract_text() for page in self.reader.pages)
        self.text = re.sub(r"\s+", " ", raw)  # line wraps do not matter to what is said
        self.metadata = self.reader.metadata
        self.attachments = self.reader.attachments

    def has(self, text: str) -> bool:
        return re.sub(r"\s+", " ", text) in self.text

    def attachment_json(self, name: str = "proof-trail.json") -> dict:
        [content] = self.attachments[name]
        return json.loads(content)

    def fonts(self) -> set[str]:
        names = set()
        for page in self.reader.pages:
            for font in page["/Resources"]["/Font"].values():
                names.add(str(font.get_object()["/BaseFont"]))
        return names

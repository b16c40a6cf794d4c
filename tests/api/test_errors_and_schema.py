from __future__ import annotations

import re


def test_unknown_route_wrong_method_and_bad_json_have_the_seed_body(api, admin_headers):
    cases = [
        (api.get("/does-not-exist", headers=admin_headers), 404),
        (api.delete("/alerts/", headers=admin_headers), 405),
        (api.post("/settings/whitelist", content=b"{not json", headers=admin_headers), 400),
        (api.post("/auth/login", json={"username": "admin"}), 400),
    ]
    for response, status in cases:
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]
        assert "Traceback" not in response.text


def test_unexpected_exception_is_500_without_a_trace(api, admin_headers, store):
    # A corrupted row (shap_json not JSON) makes the handler fail unexpectedly.
    store.execute(
        "INSERT INTO alerts (id, severity, rule_name, source_ip, score, timestamp, shap_json, created_at, updated_at)"
        " VALUES ('bad', 'LOW', 'NEW_DEVICE', '10.0.0.1', 0.1, 1, '{broken', 0, 0)"
    )
    response = api.get("/alerts/bad", headers=admin_headers)
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}


def test_openapi_describes_every_route(api):
    schema = api.get("/schema/openapi.json").json()
    documented = {path.rstrip("/") for path in schema["paths"]}
    served = {
        re.sub(r":\w+}", "}", route.path).rstrip("/")  # {name:type} as OpenAPI's {name}
        for route in api.app.routes
        if route.path.startswith("/api/v1") and not route.path.startswith("/api/v1/schema")
    }
    assert served and served <= documented, served - documented
    alerts = schema["paths"]["/api/v1/alerts"]["get"]
    assert {p["name"] for p in alerts["parameters"]} >= {"severity", "status", "rule", "limit", "offset"}
    assert "BearerToken" in schema["components"]["securitySchemes"]


def test_rate_limit_headers_on_every_response(api, admin_headers):
    for response in (api.get("/alerts/", headers=admin_headers), api.get("/nowhere"), api.get("/health")):
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(response.headers)

"""Numbers in query strings: out of range is a 400 with its detail, never a 500 from the database driver."""

from __future__ import annotations

from appliance.api.paging import MAX_OFFSET

SQLITE_INTEGER_MAX = 2**63 - 1


def schema_types(schema: dict) -> set:
    """The types a schema allows: `type` is one name or a list of them (["null", "string"]), or oneOf's."""
    named = schema.get("type")
    return set(named if isinstance(named, list) else [named]) | {s.get("type") for s in schema.get("oneOf", [])}


def _integer_query_parameters(api) -> list[tuple[str, str]]:
    """(path, parameter) for every integer query parameter of a GET operation, as the OpenAPI lists them."""
    schema = api.get("/schema/openapi.json").json()
    found = []
    for path, operations in schema["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            types = schema_types(parameter["schema"])
            if parameter["in"] == "query" and "integer" in types:
                found.append((path.removeprefix("/api/v1"), parameter["name"]))
    return found


def test_every_list_endpoint_takes_offsets_up_to_the_documented_maximum(api, admin_headers):
    schema = api.get("/schema/openapi.json").json()
    offsets = [path for path, name in _integer_query_parameters(api) if name == "offset"]
    assert {"/alerts", "/traces", "/settings/audit-log", "/compliance/incidents", "/compliance/breaches"} <= {
        path.rstrip("/") for path in offsets}
    for path in offsets:
        (documented,) = [p["schema"]["maximum"] for p in schema["paths"][f"/api/v1{path}"]["get"]["parameters"]
                         if p["name"] == "offset"]
        assert documented == MAX_OFFSET <= SQLITE_INTEGER_MAX  # exactly: a client may send what it promises
        for offset in (MAX_OFFSET, MAX_OFFSET + 1):
            response = api.get(path, params={"offset": offset}, headers=admin_headers)
            assert response.status_code == (200 if offset == MAX_OFFSET else 400), (path, response.text)


def test_integers_beyond_64_bits_are_a_400_with_detail_on_every_query_parameter(api, admin_headers):
    parameters = _integer_query_parameters(api)
    assert len(parameters) >= 10
    for path, name in parameters:
        for value in (SQLITE_INTEGER_MAX + 1, 10**30):
            response = api.get(path, params={name: value}, headers=admin_headers)
            assert response.status_code == 400, (path, name, value, response.status_code, response.text)
            body = response.json()
            assert set(body) == {"detail"} and name in body["detail"], (path, name, body)

"""Licensing: offline license keys, license state and gating, and the box's link to the vendor cloud.
The vendor's own licensing service, which runs in the vendor cloud and never on a box, is `vendor_cloud.licensing`;
`keys`, `plans` and `protocol` are the contract both sides share.

- `keys`: the `nsx_…` key format, Ed25519 verification, license files for air-gapped sites.
- `state`: what an (expired) license still allows. Detection never stops; see `state`.
- `plans`: plans and the features each unlocks.
- `sovereignty`: the exact heartbeat payload that leaves the box (show `describe_payload` to the admin).
- `protocol`: the other bodies exchanged with the vendor service.
- `cloud_client`: the box-side HTTP client for the vendor licensing service.

How the box uses it:

- Trust: ``keys.trusted_public_keys(config.vendor_public_keys or None)``; tests configure their own key.
- Entering a key / loading a file: ``keys.verify_license(key, trusted)`` or ``keys.verify_license_file``;
  any ``keys.LicenseError`` is a 400 with ``str(err)`` as detail.
- ``POST /agents/auth`` for an agent_id not registered yet: ``state.can_register_sensor(state, count)``;
  ``reason == "license_locked"`` -> 423, ``"sensor_limit"`` -> 403.
- ``POST /reports/*``: ``state.can_generate_report(state)`` (same mapping). ``GET /tenant/export``, alerts
  and traces are never gated. The engine asks ``state.rule_allowed(license, rule_name)``.
- ``/billing/*``: ``cloud_client.checkout / portal / subscription``; ``CloudUnavailable`` -> 502,
  ``CloudRejected`` -> its ``status_code``; both carry ``detail``.
- Background heartbeat: ``cloud_client.heartbeat(link, sovereignty.heartbeat_payload(...))``, then
  ``cloud_client.accept_refreshed_license`` to store a renewed key; ``reply.revoked`` is the vendor's word.
"""

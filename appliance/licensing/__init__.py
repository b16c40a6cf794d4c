"""Licensing: offline license keys, license state and gating, and the box's link to the vendor cloud.

- `keys`: the `nsx_…` key format, Ed25519 verification, license files for air-gapped sites.
- `state`: what an (expired) license still allows. Detection never stops; see `state`.
- `sovereignty`: the exact heartbeat payload that leaves the box.
- `cloud_client`: the box-side HTTP client for the vendor licensing service.
- `vendor`: the vendor's licensing service (runs in the vendor cloud, never on the box).
"""

"""Licensing benchmark: offline license verification, and the length of the key an admin pastes.

Peer: PyJWT verifying an EdDSA JWT carrying the same claims (the usual way to ship signed tokens).
Run: python tests/benchmarks/bench_licensing.py  -> tests/benchmarks/results/licensing.json
"""

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.licensing.keys import License, encode_license, key_id, verify_license
from appliance.licensing.state import license_state

ROUNDS = 3000


def per_call_us(fn, rounds: int = ROUNDS) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - start) / rounds * 1e6


def main() -> None:
    signing_key = Ed25519PrivateKey.generate()
    public_key = signing_key.public_key()
    license = License(
        license_id="lic_0123456789abcdef01234567",
        customer="ACME Industrial Components SL",
        plan="enterprise",
        features=("reports", "siem_export", "ot_detections"),
        max_sensors=25,
        issued_at=1_790_000_000,
        expires_at=1_821_536_000,
        key_id=key_id(public_key),
    )
    key = encode_license(license, signing_key)
    token = jwt.encode(msgspec.to_builtins(license), signing_key, algorithm="EdDSA")

    ours = per_call_us(lambda: verify_license(key, [public_key]))
    peer = per_call_us(lambda: jwt.decode(token, public_key, algorithms=["EdDSA"]))
    state = per_call_us(lambda: license_state(license, 1_800_000_000), rounds=100_000)
    results = {
        "verify_license_us": round(ours, 1),
        "pyjwt_eddsa_decode_us": round(peer, 1),
        "ratio_ours_over_pyjwt": round(ours / peer, 2),
        "license_state_us": round(state, 2),
        "key_chars": len(key),
        "jwt_chars": len(token),
    }
    print(json.dumps(results, indent=2))
    out = REPO / "tests" / "benchmarks" / "results" / "licensing.json"
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

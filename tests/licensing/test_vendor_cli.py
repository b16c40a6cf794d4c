"""``appliance-licensing`` commands: what they write, and one-line errors with a non-zero exit."""

import socket
import stat

import pytest

from appliance.licensing.keys import load_public_key, verify_license, verify_license_file
from vendor_cloud.licensing.cli import main
from vendor_cloud.licensing.store import VendorStore


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def signing_key_file(tmp_path, capsys):
    path = tmp_path / "vendor.pem"
    code, out, _ = _run(capsys, "keygen", "--out", str(path))
    assert code == 0 and "key id" in out
    return path


def _mint_args(signing_key_file, *extra: str) -> list[str]:
    return [
        "mint", "--plan", "professional", "--days", "365", "--sensors", "5", "--customer", "ACME SL",
        "--signing-key", str(signing_key_file), *extra,
    ]  # fmt: skip


def test_keygen_writes_a_private_key_only_the_owner_can_read(signing_key_file, capsys):
    assert stat.S_IMODE(signing_key_file.stat().st_mode) == 0o600
    load_public_key(signing_key_file.with_name("vendor.pem.pub").read_text())
    code, _, err = _run(capsys, "keygen", "--out", str(signing_key_file))
    assert code == 1
    assert err.count("\n") == 1 and "never overwritten" in err


def test_mint_prints_a_key_the_public_key_verifies(signing_key_file, capsys):
    code, out, _ = _run(
        capsys, *_mint_args(signing_key_file, "--features", "reports,ot_detections", "siem_export")
    )
    assert code == 0
    public_key = load_public_key(signing_key_file.with_name("vendor.pem.pub").read_text())
    license = verify_license(out.strip(), [public_key])
    assert (license.plan, license.max_sensors, license.customer) == ("professional", 5, "ACME SL")
    assert license.features == ("reports", "ot_detections", "siem_export")
    assert license.expires_at - license.issued_at == 365 * 86_400


def test_mint_defaults_to_the_plan_features_and_writes_a_license_file(signing_key_file, tmp_path, capsys):
    license_file = tmp_path / "acme.license"
    code, out, _ = _run(capsys, *_mint_args(signing_key_file, "--out", str(license_file)))
    assert code == 0
    public_key = load_public_key(signing_key_file.with_name("vendor.pem.pub").read_text())
    license = verify_license_file(license_file, [public_key])
    assert license == verify_license(out.strip(), [public_key])
    assert license.features == ("reports", "siem_export")
    assert license_file.read_text().startswith("# NetSenX license lic_")


def test_revoke_records_the_revocation(tmp_path, capsys):
    db = tmp_path / "licensing.sqlite"
    code, out, _ = _run(capsys, "revoke", "lic_abc", "--db", str(db))
    assert code == 0 and "revoked lic_abc" in out
    assert VendorStore(db).is_revoked("lic_abc") and not VendorStore(db).is_revoked("lic_other")


@pytest.mark.parametrize(
    ("argv", "code", "phrase"),
    [
        (["mint", "--plan", "gold", "--days", "1", "--sensors", "1", "--customer", "x", "--signing-key", "k"], 2,
         "invalid choice: 'gold'"),
        (["mint", "--plan", "starter", "--days", "0", "--sensors", "1", "--customer", "x", "--signing-key", "KEY"], 1,
         "at least 1"),
        (["mint", "--plan", "starter", "--days", "1", "--sensors", "1", "--customer", "x", "--signing-key",
          "/nonexistent.pem"], 1, "cannot load signing key"),
        (["revoke", "lic_1", "--db", "/nonexistent/dir/db.sqlite"], 1, "cannot open licensing database"),
        (["serve", "--signing-key", "KEY", "--db", "DB"], 1, "missing --stripe-api-key"),
        ([], 2, "required: COMMAND"),
    ],
)  # fmt: skip
def test_errors_are_one_line_and_non_zero(signing_key_file, tmp_path, capsys, argv, code, phrase):
    argv = [str(signing_key_file) if a == "KEY" else str(tmp_path / "db") if a == "DB" else a for a in argv]
    got_code, _, err = _run(capsys, *argv)
    assert got_code == code
    assert err.count("\n") == 1 and phrase in err, err


def test_serve_on_a_busy_port_is_one_line(signing_key_file, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = str(busy.getsockname()[1])
        code, _, err = _run(
            capsys, "serve", "--port", port, "--signing-key", str(signing_key_file), "--db", str(tmp_path / "db"),
            "--stripe-api-key", "sk_test", "--stripe-webhook-secret", "whsec_test",
        )  # fmt: skip
    assert code == 1 and err.count("\n") == 1 and "cannot listen on 127.0.0.1" in err

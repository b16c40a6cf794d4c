# NetSenX appliance tasks. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

python := `command -v python3 || command -v python`
demo_dir := "var/demo"

# Start the whole box on its embedded demo network: API + UI on https://127.0.0.1:8443
demo *args: system-packages
    {{python}} -m appliance demo --data-dir {{demo_dir}} {{args}}

# Run every test (unit, end-to-end with real Granian servers, namespaces and pcaps)
test *args: system-packages
    {{python}} -m pytest -n 2 -q {{args}}

# Benchmarks: numbers land in tests/benchmarks/results/ (see README "Benchmarks")
bench: system-packages
    for script in tests/benchmarks/bench_*.py; do echo "== $script"; {{python}} "$script"; done
    {{python}} tests/benchmarks/render_results.py

lint:
    {{python}} -m ruff check appliance sensor model_building vendor_cloud tests

# Debian packages the tests and the demo need (network namespaces, libpcap compiling capture filters, capture
# peers, a browser for the UI tests, rsyslog and Prometheus receiving the box's SIEM export and scraping its metrics)
system-packages:
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    for package in iproute2 libpcap0.8 tshark tcpreplay chromium chromium-driver fonts-dejavu-core poppler-utils nftables shellcheck systemd rsyslog rsyslog-openssl rsyslog-kafka rsyslog-elasticsearch prometheus; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi

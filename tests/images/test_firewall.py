"""The nftables ruleset: valid for the kernel's parser (`nft -c`, never loaded here) and saying what the box allows.

This machine's own ruleset is never touched: only `nft -c` runs, and a test proves the ruleset is unchanged.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.images.conftest import IMAGES, MANAGEMENT_NET, require_tool

RULESET = IMAGES / "firewall" / "netsenx.nft"


def check_ruleset(path) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("nft"), "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)


def host_ruleset() -> str:
    return subprocess.run([require_tool("nft"), "list", "ruleset"], capture_output=True, text=True).stdout


def chain_rules(text: str, table: str, chain: str) -> list[str]:
    """The rule lines of one chain, comments and blank lines dropped, its `type … hook` line first."""
    table_body = re.search(rf"^table {table} \{{(.*?)^\}}", text, re.S | re.M).group(1)
    chain_body = re.search(rf"chain {chain} \{{(.*?)\n\t\}}", table_body, re.S).group(1)
    lines = (line.split("#")[0].strip() for line in chain_body.splitlines())
    return [line for line in lines if line]


@pytest.fixture(scope="module")
def ruleset_text() -> str:
    return RULESET.read_text()


def test_shipped_ruleset_passes_the_check_and_leaves_this_machine_alone():
    before = host_ruleset()
    result = check_ruleset(RULESET)
    assert result.returncode == 0, result.stderr
    assert host_ruleset() == before


def test_the_check_is_real_a_broken_ruleset_fails(tmp_path, ruleset_text):
    broken = tmp_path / "broken.nft"
    broken.write_text(ruleset_text.replace("policy drop;", "policy dorp;", 1))
    result = check_ruleset(broken)
    assert result.returncode != 0
    assert "dorp" in result.stderr


def test_ruleset_rendered_by_the_recipe_passes_the_check(files_root):
    rendered = files_root / "etc" / "nftables.conf"
    assert f"define management_networks_v4 = {{ {MANAGEMENT_NET} }}" in rendered.read_text()
    assert 'define mirror_interfaces = { "eth1", "eth2.100" }' in rendered.read_text()
    assert rendered.stat().st_mode & 0o777 == 0o600
    assert check_ruleset(rendered).returncode == 0


@pytest.mark.parametrize("chain", ["input", "forward", "output"])
def test_every_chain_drops_by_default_and_counts_what_it_drops(ruleset_text, chain):
    rules = chain_rules(ruleset_text, "inet netsenx", chain)
    assert "policy drop;" in rules[0]
    assert re.fullmatch(r"counter name dropped_\w+ drop", rules[-1])


def test_inbound_opens_only_https_and_ssh_from_the_management_network(ruleset_text):
    rules = chain_rules(ruleset_text, "inet netsenx", "input")
    opened = [rule for rule in rules if "ct state new accept" in rule]
    assert opened == [
        "tcp dport 443 ct state new accept",
        "ip saddr $management_networks_v4 tcp dport 22 ct state new accept",
        "ip6 saddr $management_networks_v6 tcp dport 22 ct state new accept",
    ]
    assert 'iif "lo" accept' in rules
    assert "ct state established,related accept" in rules


def test_outbound_https_goes_only_to_the_licensing_sets_which_ship_empty(ruleset_text):
    rules = chain_rules(ruleset_text, "inet netsenx", "output")
    https = [rule for rule in rules if "dport 443" in rule]
    assert https == ["ip daddr @licensing_v4 tcp dport 443 accept", "ip6 daddr @licensing_v6 tcp dport 443 accept"]
    assert "meta l4proto { udp, tcp } th dport 53 accept" in rules
    assert "udp dport 123 accept" in rules
    for licensing_set in ("licensing_v4", "licensing_v6"):
        body = re.search(rf"set {licensing_set} \{{(.*?)\}}", ruleset_text, re.S).group(1)
        assert "elements" not in body


def test_nothing_leaves_on_a_mirror_port_not_even_arp(ruleset_text):
    output = chain_rules(ruleset_text, "inet netsenx", "output")
    # First rule: before loopback or established traffic could be accepted on a mirror port.
    assert output[1] == "oifname $mirror_interfaces counter name dropped_mirror_out drop"
    arp_output = chain_rules(ruleset_text, "arp netsenx_mirror", "output")
    assert arp_output[1:] == ["oifname $mirror_interfaces counter drop"]
    input_rules = chain_rules(ruleset_text, "inet netsenx", "input")
    assert input_rules.index("iifname $mirror_interfaces counter name dropped_in drop") < input_rules.index(
        "ct state established,related accept"
    )

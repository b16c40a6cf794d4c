from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, get_args

import msgspec

from appliance.engine.rules import RULE_NAMES

Direction = Literal["any", "source", "destination"]
DIRECTIONS = get_args(Direction)
RuleName = Literal[tuple(sorted(RULE_NAMES))]

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_ADDRESS = rf"{_OCTET}(\.{_OCTET}){{3}}"
_IPV4 = rf"{_IPV4_ADDRESS}(/(3[0-2]|[12]?[0-9]))?"
_H = "[0-9A-Fa-f]{1,4}"
_IPV6_ADDRESS = (
    rf"(({_H}:){{7}}{_H}|({_H}:){{1,7}}:|({_H}:){{1,6}}:{_H}|({_H}:){{1,5}}(:{_H}){{1,2}}|({_H}:){{1,4}}(:{_H}){{1,3}}"
    rf"|({_H}:){{1,3}}(:{_H}){{1,4}}|({_H}:){{1,2}}(:{_H}){{1,5}}|{_H}:(:{_H}){{1,6}}|:((:{_H}){{1,7}}|:))"
)
_IPV6 = rf"{_IPV6_ADDRESS}(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?"
IP_ADDRESS_PATTERN = rf"^({_IPV4_ADDRESS}|{_IPV6_ADDRESS})$"  # one address, no network
# What the schema promises: an IPv4 or IPv6 address or network in the usual notation. `normalise` (the
# ipaddress module) decides; it also takes forms the pattern leaves out, such as a netmask after the slash.
Cidr = Annotated[str, msgspec.Meta(pattern=rf"^({_IPV4}|{_IPV6})$", max_length=64,
                                   description="an IPv4/IPv6 address or network")]


class WhitelistIn(msgspec.Struct, forbid_unknown_fields=True):
    """`cidr` takes an IPv4/IPv6 address or network; `expires_at` is epoch seconds."""

    cidr: Cidr
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] | None = None
    direction: Direction = "any"
    rule_name: RuleName | None = None
    comment: Annotated[str, msgspec.Meta(max_length=500)] = ""
    expires_at: int | None = None


class WhitelistEntry(msgspec.Struct):
    id: str
    cidr: str
    port: int | None
    direction: str
    rule_name: str | None
    comment: str
    expires_at: int | None
    created_by: str
    created_at: float


class WhitelistList(msgspec.Struct):
    entries: list[WhitelistEntry]
    total: int


class InvalidEntry(ValueError):
    """The message starts with the field name, so the API can say which field is wrong."""


def normalise(entry: WhitelistIn, known_rules: frozenset[str], now: float) -> WhitelistIn:
    try:
        network = ipaddress.ip_network(entry.cidr.strip(), strict=False)
    except ValueError as error:
        raise InvalidEntry(f"cidr: {entry.cidr!r} is not an IPv4/IPv6 address or network") from error
    if entry.port is not None and not 0 <= entry.port <= 65535:
        raise InvalidEntry("port: must be between 0 and 65535")
    if entry.direction not in DIRECTIONS:
        raise InvalidEntry(f"direction: must be one of {', '.join(DIRECTIONS)}")
    if entry.rule_name is not None and entry.rule_name not in known_rules:
        raise InvalidEntry(f"rule_name: unknown rule {entry.rule_name!r}")
    if len(entry.comment) > 500:
        raise InvalidEntry("comment: at most 500 characters")
    if entry.expires_at is not None and entry.expires_at <= now:
        raise InvalidEntry("expires_at: must be in the future (epoch seconds)")
    return msgspec.structs.replace(entry, cidr=str(network))


def entry_matches(
    entry: WhitelistEntry | WhitelistIn,
    *,
    source_ip: str,
    dest_ip: str | None,
    port: int | None,
    rule_name: str,
    at: float,
) -> bool:
    if entry.expires_at is not None and entry.expires_at <= at:
        return False
    if entry.rule_name is not None and entry.rule_name != rule_name:
        return False
    if entry.port is not None and entry.port != port:
        return False
    network = ipaddress.ip_network(entry.cidr)
    candidates = {
        "source": [source_ip],
        "destination": [dest_ip],
        "any": [source_ip, dest_ip],
    }[entry.direction]
    for address in candidates:
        if not address:
            continue
        try:
            if ipaddress.ip_address(address) in network:
                return True
        except ValueError:
            continue
    return False

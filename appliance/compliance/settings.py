"""Who the entity is and whom it reports to: the compliance settings the readiness checks and reports read."""

from __future__ import annotations

import msgspec

from appliance.compliance.regimes import Regime
from appliance.store.database import Store

SETTINGS_KEY = "compliance"
MAX_TEXT = 300


class ComplianceSettings(msgspec.Struct, kw_only=True):
    entity_name: str = ""
    sector: str = ""
    member_state: str = ""          # ISO 3166-1 alpha-2, e.g. "ES"
    entity_contact: str = ""        # who the authority calls back
    csirt_contact: str = ""
    authority_contact: str = ""
    dpo_contact: str = ""
    irp_reference: str = ""         # the incident-response plan document
    supply_chain_assessed: bool = False


class SettingsUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PUT body: only the fields given change (the seed's body carries three of them)."""

    entity_name: str | None = None
    sector: str | None = None
    member_state: str | None = None
    entity_contact: str | None = None
    csirt_contact: str | None = None
    authority_contact: str | None = None
    dpo_contact: str | None = None
    irp_reference: str | None = None
    supply_chain_assessed: bool | None = None


class InvalidSettings(ValueError):
    """The message starts with the field name."""


def load(store: Store) -> ComplianceSettings:
    return msgspec.convert(store.get_setting(SETTINGS_KEY, {}), ComplianceSettings)


def validated_changes(update: SettingsUpdate, nis2: Regime) -> dict:
    changes = {name: value.strip() if isinstance(value, str) else value for name in update.__struct_fields__
               if (value := getattr(update, name)) is not None}
    for name, value in changes.items():
        if isinstance(value, str):
            if len(value) > MAX_TEXT:
                raise InvalidSettings(f"{name}: at most {MAX_TEXT} characters")
            if any(ord(character) < 32 for character in value):
                raise InvalidSettings(f"{name}: control characters are not allowed")
    if changes.get("member_state"):
        changes["member_state"] = changes["member_state"].upper()
        if changes["member_state"] not in nis2.member_states:
            raise InvalidSettings(
                f"member_state: {changes['member_state']!r} is not an EU member state code "
                f"({', '.join(sorted(nis2.member_states))})")
    if changes.get("sector") and changes["sector"] not in nis2.sectors:
        raise InvalidSettings(f"sector: unknown sector {changes['sector']!r}; one of {', '.join(nis2.sectors)}")
    return changes


def save(store: Store, changes: dict) -> ComplianceSettings:
    merged = msgspec.structs.replace(load(store), **changes)
    store.set_setting(SETTINGS_KEY, msgspec.to_builtins(merged))
    return merged

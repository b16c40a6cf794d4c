"""Health probe and unsealing."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import JSONBody

from appliance import __version__
from appliance.api.box import Box
from appliance.api.client_address import client_address
from appliance.api.errors import Conflict
from appliance.audit import log as audit
from appliance.evidence import packets
from appliance.store import keys
from appliance.store.connection import WrongKeyError
from appliance.store.unseal_backoff import TooSoon, UnsealBackoff


class Health(msgspec.Struct):
    status: str  # "ok" or "sealed"
    version: str
    sealed: bool
    warnings: list[str] = []
    """What the admin must know while the box keeps running (the data disk is full)."""


def disk_warnings(box: Box) -> list[str]:
    if packets.store_status(box.data_dir).full:
        return ["the data disk is full: the packet store sheds its oldest packets (or drops new ones) so that "
                "detection goes on; free space on the data disk"]
    return []


class UnsealRequest(msgspec.Struct, forbid_unknown_fields=True):
    passphrase: str


class SystemController(Controller):
    path = "/"
    tags = ["system"]

    @get("/health", sync_to_thread=True, summary="Liveness for load balancers and the systemd watchdog (no auth)")
    def health(self, box: NamedDependency[Box]) -> Health:
        sealed = box.is_sealed()
        return Health(status="sealed" if sealed else "ok", version=__version__, sealed=sealed,
                      warnings=disk_warnings(box))

    @post(
        "/system/unseal",
        sync_to_thread=True,
        status_code=200,
        raises=[NotAuthorizedException, Conflict, TooManyRequestsException],
        summary="Give the database passphrase after a restart (each wrong one doubles the wait before the next)",
    )
    def unseal(self, data: JSONBody[UnsealRequest], request: Request, box: NamedDependency[Box]) -> Health:
        if keys.key_mode(box.data_dir) != "passphrase":
            raise Conflict("this box uses a key file, not a passphrase: nothing to unseal")
        if not box.is_sealed():
            return Health(status="ok", version=__version__, sealed=False)
        backoff = UnsealBackoff(box.data_dir.unseal_failures)
        try:
            wait = backoff.admit()
        except TooSoon as too_soon:
            raise TooManyRequestsException(
                str(too_soon), headers={"Retry-After": str(too_soon.retry_after)}
            ) from too_soon
        try:
            box.unseal(data.passphrase)
        except (WrongKeyError, ValueError) as error:
            raise NotAuthorizedException(
                f"wrong passphrase; the next attempt is allowed in {wait} s", headers={"Retry-After": str(wait)}
            ) from error
        backoff.succeeded()
        audit.record(box.store(), username="-", source_ip=client_address(request), action="box.unsealed")
        return Health(status="ok", version=__version__, sealed=False)

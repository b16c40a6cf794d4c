"""Kerberos V5 (RFC 4120) messages in DER: AS-REQ/AS-REP and TGS-REQ/TGS-REP with real etypes.

Tickets are sized (a small PAC) so that every message fits one TCP segment, as in most small domains;
a decoder that reads one packet at a time then sees every message whole.

Over TCP every message is preceded by its 4-byte length (RFC 4120 7.2.2)."""

from __future__ import annotations

import random
import struct
import time

from appliance.simulate.protocols.der import (
    application,
    bit_string,
    context,
    general_string,
    integer,
    octet_string,
    sequence,
    tlv,
)

AES256 = 18
AES128 = 17
RC4_HMAC = 23
WINDOWS_ETYPES = (AES256, AES128, RC4_HMAC, 24, -135)  # what a Windows 10/11 client offers
NT_PRINCIPAL, NT_SRV_INST = 1, 2
PA_TGS_REQ, PA_ENC_TIMESTAMP, PA_PAC_OPTIONS = 1, 2, 167


def kerberos_time(unix_seconds: float) -> bytes:
    return tlv(0x18, time.strftime("%Y%m%d%H%M%SZ", time.gmtime(unix_seconds)).encode())


# -- Kerberos structures --------------------------------------------------------------------------
def principal(name_type: int, *names: str) -> bytes:
    return sequence(context(0, integer(name_type)), context(1, sequence(*(general_string(n) for n in names))))


def encrypted_data(etype: int, cipher: bytes, kvno: int | None = None) -> bytes:
    kvno_part = context(1, integer(kvno)) if kvno is not None else b""
    return sequence(context(0, integer(etype)), kvno_part, context(2, octet_string(cipher)))


def ticket(realm: str, sname: bytes, etype: int, cipher: bytes) -> bytes:
    return application(
        1,
        sequence(
            context(0, integer(5)),
            context(1, general_string(realm)),
            context(2, sname),
            context(3, encrypted_data(etype, cipher, kvno=2)),
        ),
    )


def _pa_data(pa_type: int, value: bytes) -> bytes:
    return sequence(context(1, integer(pa_type)), context(2, octet_string(value)))


def _req_body(realm: str, sname: bytes, cname: bytes | None, till: float, nonce: int, etypes: tuple[int, ...]) -> bytes:
    return sequence(
        context(0, bit_string(0x40810010)),  # forwardable, renewable, canonicalize, renewable-ok
        context(1, cname) if cname else b"",
        context(2, general_string(realm)),
        context(3, sname),
        context(5, kerberos_time(till)),
        context(7, integer(nonce)),
        context(8, sequence(*(integer(e) for e in etypes))),
    )


def as_req(rng: random.Random, user: str, realm: str, now: float, etypes: tuple[int, ...] = WINDOWS_ETYPES) -> bytes:
    padata = sequence(
        _pa_data(PA_ENC_TIMESTAMP, encrypted_data(AES256, rng.randbytes(56))),
        _pa_data(PA_PAC_OPTIONS, sequence(context(0, bit_string(0x40000000)))),
    )
    body = _req_body(
        realm,
        principal(NT_SRV_INST, "krbtgt", realm),
        principal(NT_PRINCIPAL, user),
        now + 36000,
        rng.getrandbits(31),
        etypes,
    )
    return application(
        10, sequence(context(1, integer(5)), context(2, integer(10)), context(3, padata), context(4, body))
    )


def tgs_req(
    rng: random.Random,
    user: str,
    realm: str,
    service: str,
    tgt: bytes,
    now: float,
    etypes: tuple[int, ...] = WINDOWS_ETYPES,
) -> bytes:
    """A service-ticket request; `tgt` is the ticket from the AS-REP, presented inside the AP-REQ."""
    ap_req = application(
        14,
        sequence(
            context(0, integer(5)),
            context(1, integer(14)),
            context(2, bit_string(0)),
            context(3, tgt),
            context(4, encrypted_data(AES256, rng.randbytes(rng.randint(150, 200)))),
        ),
    )
    padata = sequence(
        _pa_data(PA_TGS_REQ, ap_req), _pa_data(PA_PAC_OPTIONS, sequence(context(0, bit_string(0x40000000))))
    )
    body = _req_body(
        realm, principal(NT_SRV_INST, *service.split("/", 1)), None, now + 36000, rng.getrandbits(31), etypes
    )
    return application(
        12, sequence(context(1, integer(5)), context(2, integer(12)), context(3, padata), context(4, body))
    )


def kdc_rep(rng: random.Random, msg_type: int, user: str, realm: str, sname: bytes, ticket_etype: int) -> bytes:
    """AS-REP (11) or TGS-REP (13). The ticket's etype is the service key's type: RC4 (23) is what a
    Kerberoaster wants, since RC4 tickets crack offline far faster than AES ones."""
    issued = ticket(realm, sname, ticket_etype, rng.randbytes(rng.randint(760, 920)))
    return application(
        msg_type,
        sequence(
            context(0, integer(5)),
            context(1, integer(msg_type)),
            context(3, general_string(realm)),
            context(4, principal(NT_PRINCIPAL, user)),
            context(5, issued),
            context(6, encrypted_data(AES256, rng.randbytes(rng.randint(280, 340)), kvno=3)),
        ),
    )


def tgt(rng: random.Random, realm: str) -> bytes:
    return ticket(realm, principal(NT_SRV_INST, "krbtgt", realm), AES256, rng.randbytes(rng.randint(780, 880)))


def service_principal(service: str) -> bytes:
    return principal(NT_SRV_INST, *service.split("/", 1))


def over_tcp(message: bytes) -> bytes:
    return struct.pack("!I", len(message)) + message

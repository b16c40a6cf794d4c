"""The sensor's HTTP client for the appliance's agent API (the same path for the box's own sensor and a
remote one): license key -> token, heartbeat, config, ingest. A 401 on any call means the token expired or
the box restarted with a new secret: authenticate again once and retry."""

from __future__ import annotations

import platform
import socket
import ssl
from typing import Any

import httpx
import msgspec

API_PREFIX = "/api/v1"
SENSOR_VERSION = "0.1.0"  # released together with the appliance


class Unavailable(Exception):
    """Down, unreachable, overloaded (5xx) or rate-limited: try again later. `retry_after` when the box said."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Refused(Exception):
    """The appliance answered no (4xx) and asking again will not change that. `status_code` says why."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code


class AgentIdentity(msgspec.Struct, frozen=True):
    agent_id: str
    license_key: str
    hostname: str = msgspec.field(default_factory=socket.gethostname)
    os_type: str = msgspec.field(default_factory=lambda: platform.system().lower() or "unknown")
    agent_version: str = SENSOR_VERSION


class TokenReply(msgspec.Struct):
    access_token: str
    expires_in: int
    next_seq: int = 0  # older boxes do not send it


class IngestReply(msgspec.Struct):
    seq: int
    duplicate: bool


def api_base(url: str) -> str:
    """`https://box`, `https://box/` and `https://box/api/v1` all mean the same appliance."""
    url = url.rstrip("/")
    return url if url.endswith(API_PREFIX) else url + API_PREFIX


def tls_verification(ca_file: str | None, insecure: bool) -> ssl.SSLContext | bool:
    """Trust exactly `ca_file` (the box's certificate or its CA) when given; no checks only when asked."""
    if insecure:
        return False
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return True


class ApplianceClient:
    def __init__(
        self, appliance_url: str, identity: AgentIdentity, verify: ssl.SSLContext | bool = True, timeout: float = 10.0
    ) -> None:
        self.identity = identity
        self._http = httpx.Client(base_url=api_base(appliance_url), verify=verify, timeout=timeout)
        self._token: str | None = None
        self.next_seq = 0

    def authenticate(self) -> TokenReply:
        response = self._send("POST", "/agents/auth", json=msgspec.to_builtins(self.identity))
        reply = msgspec.json.decode(response.content, type=TokenReply)
        self._token = reply.access_token
        self.next_seq = reply.next_seq
        return reply

    def heartbeat(self) -> dict[str, Any]:
        return self._authorised("POST", "/agents/heartbeat", json={"agent_version": self.identity.agent_version})

    def config(self) -> dict[str, Any]:
        return self._authorised("GET", "/agents/config")

    def ingest(self, payload: bytes) -> IngestReply:
        answer = self._authorised(
            "POST", "/agents/ingest", content=payload, headers={"Content-Type": "application/msgpack"}
        )
        return msgspec.convert(answer, IngestReply)

    def close(self) -> None:
        self._http.close()

    def _authorised(self, method: str, path: str, **kwargs) -> dict[str, Any]:
        if self._token is None:
            self.authenticate()
        try:
            return self._send(method, path, token=self._token, **kwargs).json()
        except Refused as error:
            if error.status_code != 401:
                raise
        self.authenticate()
        return self._send(method, path, token=self._token, **kwargs).json()

    def _send(
        self, method: str, path: str, token: str | None = None, headers: dict | None = None, **kwargs
    ) -> httpx.Response:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            raise Unavailable(f"appliance unreachable ({type(error).__name__}: {error})") from error
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = response.headers.get("Retry-After")
            raise Unavailable(
                f"appliance answered {response.status_code}: {_detail(response)}",
                float(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        if response.status_code >= 400:
            raise Refused(response.status_code, _detail(response))
        return response


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]

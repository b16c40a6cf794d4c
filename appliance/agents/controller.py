"""/agents: sensors trade the license key for a token, heartbeat and pull config; admins manage them. The
batches they ship arrive at appliance/ingest/controller.py.

A sensor authenticates with the box's license key (it must verify against the trusted vendor keys AND be the
license installed on this box). Only a NEW agent_id is subject to the license: a registered sensor keeps
authenticating whatever the license says, because detection never stops; a revoked one never does again.
"""

from __future__ import annotations

import time

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.params import FromPath, JSONBody

from appliance import __version__
from appliance.agents import repository
from appliance.agents.models import (
    Agent,
    AgentAuthIn,
    AgentConfig,
    AgentList,
    AgentRename,
    AgentToken,
    HeartbeatIn,
    HeartbeatOut,
    LicenseSummary,
    VersionOut,
)
from appliance.agents.versions import is_newer
from appliance.api.box import Box
from appliance.api.client_address import client_address
from appliance.api.errors import NO_STORE, Locked
from appliance.api.security import admin, requires_agent
from appliance.audit import log as audit
from appliance.audit.requests import record_request
from appliance.auth import tokens
from appliance.cloud_sync.settings import load_status
from appliance.engine.process import load_settings as load_engine_settings
from appliance.licensing import box_license, state
from appliance.licensing.keys import LicenseError, verify_license
from appliance.store.database import Store
from appliance.whitelist.repository import list_entries


def latest_sensor_version(store: Store) -> str:
    """What the vendor announced in the last heartbeat; without a cloud link, this box's own release."""
    return load_status(store).latest_sensor_version or __version__


def license_summary(store: Store) -> LicenseSummary | None:
    seen = box_license.current_state(store, box_license.trusted_keys())
    if seen is None:
        return None
    return LicenseSummary(
        license_id=seen.license.license_id,
        plan=seen.license.plan,
        status=seen.status,
        expires_at=seen.license.expires_at,
        days_left=seen.days_left,
        hint=state.renewal_hint(seen),
    )


def authenticate(store: Store, data: AgentAuthIn, now: float) -> tuple[Agent, str, dict]:
    """Register or recognise the sensor. Returns (agent, audit action or "", audit details)."""
    trusted = box_license.trusted_keys()
    try:
        presented = verify_license(data.license_key, trusted)
    except LicenseError as error:
        raise NotAuthorizedException(f"invalid license key: {error}") from error
    current = box_license.installed(store, trusted)
    if current is None:
        raise Locked(f"registering sensors is locked: {box_license.NO_LICENSE_HINT}")
    if presented.license_id != current.license.license_id:
        raise NotAuthorizedException(
            f"this license key ({presented.license_id}) is not the license installed on this box"
        )
    with store.write_transaction():
        existing = repository.get(store, data.agent_id)
        if existing is None:
            gate = state.can_register_sensor(
                state.license_state(current.license, now), box_license.sensors_registered(store)
            )
            box_license.raise_unless_allowed(gate)
            agent = repository.register(store, data, now)
            return (
                agent,
                "agent.registered",
                {"hostname": data.hostname, "os_type": data.os_type, "agent_version": data.agent_version},
            )
        if existing.revoked:
            raise PermissionDeniedException(
                f"sensor {data.agent_id} has been revoked by an admin; give it a new agent_id to register it again"
            )
        changes = repository.update_identity(store, existing, data, now)
        return repository.get(store, data.agent_id), "agent.updated" if changes else "", changes


class AgentsController(Controller):
    path = "/agents"
    tags = ["agents"]

    @post(
        "/auth",
        status_code=200,
        sync_to_thread=True,
        raises=[NotAuthorizedException, PermissionDeniedException],
        summary="Exchange the license key for a sensor token",
        cache_control=NO_STORE,
    )
    def auth(
        self, data: JSONBody[AgentAuthIn], request: Request, store: NamedDependency[Store], box: NamedDependency[Box]
    ) -> AgentToken:
        agent, action, details = authenticate(store, data, time.time())
        if action:
            audit.record(
                store,
                username=f"agent:{agent.agent_id}",
                source_ip=client_address(request),
                action=action,
                target=agent.agent_id,
                details=details,
            )
        token, _ = tokens.issue(box.token_secret(), agent.agent_id, "agent", "agent", tokens.AGENT_TOKEN_SECONDS)
        return AgentToken(access_token=token, expires_in=tokens.AGENT_TOKEN_SECONDS, next_seq=agent.next_seq)

    @post(
        "/heartbeat",
        guards=[requires_agent],
        status_code=200,
        sync_to_thread=True,
        summary="Sent every 60 s: license status and update availability",
    )
    def heartbeat(
        self, request: Request, store: NamedDependency[Store], data: JSONBody[HeartbeatIn | None] = None
    ) -> HeartbeatOut:
        agent = repository.touch(store, request.user.name, time.time(), data.agent_version if data else None)
        latest = latest_sensor_version(store)
        return HeartbeatOut(
            agent_id=agent.agent_id,
            server_time=time.time(),
            license=license_summary(store),
            latest_version=latest,
            update_available=is_newer(latest, agent.agent_version),
        )

    @get("/config", sync_to_thread=True, summary="Rule overrides and the (non-expired) whitelist")
    def config(self, store: NamedDependency[Store]) -> AgentConfig:
        overrides = msgspec.to_builtins(load_engine_settings(store).rule_overrides)
        return AgentConfig(rule_overrides=overrides, whitelist=list_entries(store, include_expired=False))

    @get("/version", sync_to_thread=True, summary="The latest sensor version available")
    def version(self, request: Request, store: NamedDependency[Store]) -> VersionOut:
        latest = latest_sensor_version(store)
        agent = repository.get(store, request.user.name) if request.user.kind == "agent" else None
        current = agent.agent_version if agent else None
        return VersionOut(
            latest_version=latest,
            current_version=current,
            update_available=current is not None and is_newer(latest, current),
        )

    @get("/", guards=[admin], sync_to_thread=True, summary="Registered sensors")
    def list_agents(self, store: NamedDependency[Store]) -> AgentList:
        agents = repository.list_agents(store)
        return AgentList(agents=agents, total=len(agents))

    @patch("/{agent_id:str}", guards=[admin], sync_to_thread=True, summary="Rename a sensor")
    def rename(
        self, agent_id: FromPath[str], data: JSONBody[AgentRename], request: Request, store: NamedDependency[Store]
    ) -> Agent:
        before = self._existing(store, agent_id)
        agent = repository.rename(store, agent_id, data.name)
        record_request(
            store,
            request,
            action="agent.renamed",
            target=agent_id,
            details={"from": before.name, "to": data.name},
        )
        return agent

    @post(
        "/{agent_id:str}/revoke",
        guards=[admin],
        status_code=200,
        sync_to_thread=True,
        summary="Revoke a sensor: its tokens stop working at once",
    )
    def revoke(self, agent_id: FromPath[str], request: Request, store: NamedDependency[Store]) -> Agent:
        self._existing(store, agent_id)
        agent = repository.revoke(store, agent_id)
        record_request(
            store,
            request,
            action="agent.revoked",
            target=agent_id,
        )
        return agent

    @staticmethod
    def _existing(store: Store, agent_id: str) -> Agent:
        agent = repository.get(store, agent_id)
        if agent is None:
            raise NotFoundException(f"no sensor {agent_id!r}")
        return agent

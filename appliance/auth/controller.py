"""Logging in and out, and the second factor."""

from __future__ import annotations

import time

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, ValidationException
from litestar.params import JSONBody

from appliance.api.box import Box
from appliance.api.errors import NO_STORE, Locked
from appliance.api.security import Principal, viewer
from appliance.audit import log as audit
from appliance.auth import tokens, totp, users
from appliance.store.database import Store


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str
    totp: str | None = None


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int


class Me(msgspec.Struct):
    username: str
    role: str
    totp_enabled: bool


class TotpEnrolment(msgspec.Struct):
    secret: str
    otpauth_uri: str


class TotpConfirm(msgspec.Struct, forbid_unknown_fields=True):
    code: str


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post(
        "/login",
        sync_to_thread=True,
        status_code=200,
        raises=[NotAuthorizedException, Locked],
        summary="Log in: returns a bearer token",
        cache_control=NO_STORE,
    )
    def login(
        self, data: JSONBody[LoginRequest], request: Request, store: NamedDependency[Store], box: NamedDependency[Box]
    ) -> TokenResponse:
        source = client_address(request)
        try:
            user = users.authenticate(store, data.username, data.password, data.totp)
        except users.AccountLocked as locked:
            audit.record(store, username=data.username[:64], source_ip=source, action="login.locked")
            raise Locked(str(locked), headers={"Retry-After": str(locked.retry_after)}) from locked
        except users.LoginRejected as rejected:
            audit.record(store, username=data.username[:64], source_ip=source, action="login.failed")
            raise NotAuthorizedException(str(rejected)) from rejected
        generation = users.token_generation(store, user.id)
        if generation is None:  # deleted between the password check and now
            raise NotAuthorizedException(users.REJECTED)
        token, _ = tokens.issue(
            box.token_secret(), user.username, user.role, "user", tokens.USER_TOKEN_SECONDS,
            account=(user.id, generation),
        )
        audit.record(store, username=user.username, source_ip=source, action="login.succeeded")
        return TokenResponse(access_token=token, token_type="bearer", expires_in=tokens.USER_TOKEN_SECONDS)

    @post("/logout", guards=[viewer], status_code=200, summary="Revoke the token used for this request")
    async def logout(self, request: Request, store: NamedDependency[Store]) -> dict[str, str]:
        principal: Principal = request.user
        store.execute(
            "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)",
            (principal.token_id, principal.expires_at),
        )
        store.execute("DELETE FROM revoked_tokens WHERE expires_at < ?", (time.time(),))
        audit.record(store, username=principal.name, source_ip=client_address(request), action="logout")
        return {"detail": "logged out"}

    @get("/me", guards=[viewer], summary="Who the token belongs to")
    async def me(self, request: Request, store: NamedDependency[Store]) -> Me:
        user = users.get_user(store, request.user.name)
        return Me(username=user.username, role=user.role, totp_enabled=user.totp_enabled)

    @post(
        "/totp/enroll",
        guards=[viewer],
        status_code=200,
        raises=[ValidationException],
        summary="Start TOTP enrolment: returns the secret",
        cache_control=NO_STORE,
    )
    async def enroll_totp(self, request: Request, store: NamedDependency[Store]) -> TotpEnrolment:
        user = users.get_user(store, request.user.name)
        if user.totp_enabled:
            raise ValidationException("totp: already enabled for this account")
        secret = users.start_totp_enrolment(store, user.username)
        audit.record(store, username=user.username, source_ip=client_address(request), action="totp.enrolment_started")
        return TotpEnrolment(secret=secret, otpauth_uri=totp.provisioning_uri(secret, user.username))

    @post(
        "/totp/confirm",
        guards=[viewer],
        status_code=200,
        summary="Finish TOTP enrolment with a current code (each code is accepted once)",
        raises=[ValidationException],
    )
    async def confirm_totp(self, data: JSONBody[TotpConfirm], request: Request, store: NamedDependency[Store]) -> Me:
        if not users.confirm_totp_enrolment(store, request.user.name, data.code):
            raise ValidationException("code: not a current one-time code for the enrolled secret, or one already used")
        audit.record(store, username=request.user.name, source_ip=client_address(request), action="totp.enabled")
        user = users.get_user(store, request.user.name)
        return Me(username=user.username, role=user.role, totp_enabled=user.totp_enabled)

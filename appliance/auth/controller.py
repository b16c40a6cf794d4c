"""Logging in and out, and the second factor."""

from __future__ import annotations

import time

import msgspec
import segno
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, ValidationException
from litestar.params import JSONBody

from appliance.api.box import Box
from appliance.api.client_address import client_address
from appliance.api.errors import NO_STORE, Locked
from appliance.api.security import Principal, viewer
from appliance.audit import log as audit
from appliance.auth import tokens, totp, users
from appliance.store.database import Store


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str
    totp: str | None = None
    recovery_code: str | None = None  # instead of a one-time code, when the authenticator is lost


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int


class Me(msgspec.Struct, kw_only=True):
    username: str
    role: str
    totp_enabled: bool
    recovery_codes_left: int = 0


class TotpEnabled(Me, kw_only=True):
    recovery_codes: list[str]  # shown this once; only their hashes are kept


class RecoveryCodes(msgspec.Struct):
    recovery_codes: list[str]


class TotpEnrolment(msgspec.Struct):
    secret: str
    otpauth_uri: str
    # The QR code of otpauth_uri, made on the box (no external service sees the secret): one string per row
    # of modules, "1" dark and "0" light, without the quiet zone; the page draws it.
    qr_modules: list[str]


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: str
    new_password: str


class PasswordConfirm(msgspec.Struct, forbid_unknown_fields=True):
    password: str


class TotpConfirm(msgspec.Struct, forbid_unknown_fields=True):
    code: str


def qr_modules(text: str) -> list[str]:
    matrix = segno.make(text, error="m", micro=False).matrix
    return ["".join("1" if module else "0" for module in row) for row in matrix]


def me(store: Store, username: str) -> Me:
    user = users.get_user(store, username)
    return Me(username=user.username, role=user.role, totp_enabled=user.totp_enabled,
              recovery_codes_left=users.recovery_codes_left(store, user.id))


def session_token(box: Box, store: Store, user: users.User) -> TokenResponse:
    generation = users.token_generation(store, user.id)
    if generation is None:  # deleted between the password check and now
        raise NotAuthorizedException(users.REJECTED)
    token, _ = tokens.issue(
        box.token_secret(), user.username, user.role, "user", tokens.USER_TOKEN_SECONDS,
        account=(user.id, generation),
    )
    return TokenResponse(access_token=token, token_type="bearer", expires_in=tokens.USER_TOKEN_SECONDS)


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
            user = users.authenticate(store, data.username, data.password, data.totp,
                                      recovery_code=data.recovery_code)
        except users.AccountLocked as locked:
            audit.record(store, username=data.username[:64], source_ip=source, action="login.locked")
            raise Locked(str(locked), headers={"Retry-After": str(locked.retry_after)}) from locked
        except users.LoginRejected as rejected:
            audit.record(store, username=data.username[:64], source_ip=source, action="login.failed")
            raise NotAuthorizedException(str(rejected)) from rejected
        issued = session_token(box, store, user)
        details = {"second_factor": "recovery_code"} if data.recovery_code and user.totp_enabled else None
        audit.record(store, username=user.username, source_ip=source, action="login.succeeded", details=details)
        return issued

    @post("/logout", guards=[viewer], sync_to_thread=True, status_code=200,
          summary="Revoke the token used for this request")
    def logout(self, request: Request, store: NamedDependency[Store]) -> dict[str, str]:
        principal: Principal = request.user
        store.execute(
            "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)",
            (principal.token_id, principal.expires_at),
        )
        store.execute("DELETE FROM revoked_tokens WHERE expires_at < ?", (time.time(),))
        audit.record(store, username=principal.name, source_ip=client_address(request), action="logout")
        return {"detail": "logged out"}

    @get("/me", guards=[viewer], sync_to_thread=True, summary="Who the token belongs to")
    def me(self, request: Request, store: NamedDependency[Store]) -> Me:
        return me(store, request.user.name)

    @post(
        "/password",
        guards=[viewer],
        sync_to_thread=True,
        status_code=200,
        raises=[ValidationException, NotAuthorizedException, Locked],
        summary="Change one's own password: returns a new token (every earlier one stops working)",
        cache_control=NO_STORE,
    )
    def change_password(
        self, data: JSONBody[PasswordChange], request: Request, store: NamedDependency[Store], box: NamedDependency[Box]
    ) -> TokenResponse:
        try:
            user = users.change_own_password(store, request.user.name, data.current_password, data.new_password)
        except users.AccountLocked as locked:
            raise Locked(str(locked), headers={"Retry-After": str(locked.retry_after)}) from locked
        except users.LoginRejected as rejected:
            # 400, not 401: the session is fine, the form field is wrong (a 401 would sign the user out)
            raise ValidationException(str(rejected)) from rejected
        except users.UserError as error:
            raise ValidationException(str(error)) from error
        audit.record(store, username=user.username, source_ip=client_address(request), action="password.changed")
        return session_token(box, store, user)

    @post(
        "/totp/enroll",
        sync_to_thread=True,
        guards=[viewer],
        status_code=200,
        raises=[ValidationException],
        summary="Start TOTP enrolment: returns the secret",
        cache_control=NO_STORE,
    )
    def enroll_totp(self, request: Request, store: NamedDependency[Store]) -> TotpEnrolment:
        user = users.get_user(store, request.user.name)
        if user.totp_enabled:
            raise ValidationException("totp: already enabled for this account")
        secret = users.start_totp_enrolment(store, user.username)
        audit.record(store, username=user.username, source_ip=client_address(request), action="totp.enrolment_started")
        uri = totp.provisioning_uri(secret, user.username)
        return TotpEnrolment(secret=secret, otpauth_uri=uri, qr_modules=qr_modules(uri))

    @post(
        "/totp/confirm",
        sync_to_thread=True,
        guards=[viewer],
        status_code=200,
        summary="Finish TOTP enrolment with a current code (each code is accepted once): returns recovery codes",
        raises=[ValidationException],
        cache_control=NO_STORE,
    )
    def confirm_totp(
        self, data: JSONBody[TotpConfirm], request: Request, store: NamedDependency[Store]
    ) -> TotpEnabled:
        if not users.confirm_totp_enrolment(store, request.user.name, data.code):
            raise ValidationException("code: not a current one-time code for the enrolled secret, or one already used")
        audit.record(store, username=request.user.name, source_ip=client_address(request), action="totp.enabled")
        user = users.get_user(store, request.user.name)
        codes = users.new_recovery_codes(store, user.id)
        return TotpEnabled(username=user.username, role=user.role, totp_enabled=user.totp_enabled,
                           recovery_codes_left=len(codes), recovery_codes=codes)

    @post(
        "/totp/recovery-codes",
        guards=[viewer],
        sync_to_thread=True,
        status_code=200,
        raises=[ValidationException, Locked],
        summary="A new set of one-time recovery codes (the old set stops working); needs the password",
        cache_control=NO_STORE,
    )
    def renew_recovery_codes(
        self, data: JSONBody[PasswordConfirm], request: Request, store: NamedDependency[Store]
    ) -> RecoveryCodes:
        user = users.get_user(store, request.user.name)
        if not user.totp_enabled:
            raise ValidationException("recovery codes: enrol a one-time code app first")
        try:
            users.check_current_password(store, user.username, data.password)
        except users.AccountLocked as locked:
            raise Locked(str(locked), headers={"Retry-After": str(locked.retry_after)}) from locked
        except users.LoginRejected as rejected:
            raise ValidationException(str(rejected)) from rejected
        codes = users.new_recovery_codes(store, user.id)
        audit.record(store, username=user.username, source_ip=client_address(request),
                     action="totp.recovery_codes_renewed")
        return RecoveryCodes(recovery_codes=codes)

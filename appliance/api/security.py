"""Bearer-token authentication and role guards."""

from __future__ import annotations

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from appliance.api.box import Box
from appliance.api_tokens import tokens as api_tokens
from appliance.auth import tokens
from appliance.auth.users import ROLE_RANK
from appliance.store.database import Store

# Reachable without a token: the load balancer's probe, logging in, a sensor trading its license key,
# unsealing after a restart, and the API description.
PUBLIC_PATHS = (
    "/api/v1/health",
    "/api/v1/auth/login",
    "/api/v1/agents/auth",
    "/api/v1/system/unseal",
    "/api/v1/schema",
)


class Principal(msgspec.Struct, frozen=True):
    name: str
    role: str
    kind: str  # "user", "agent", or "service" (an admin's service API token)
    token_id: str  # a JWT's jti, or "pat:<id>" for an API token
    expires_at: int

    @property
    def by_api_token(self) -> bool:
        return self.token_id.startswith(API_TOKEN_ID_PREFIX)


API_TOKEN_ID_PREFIX = "pat:"
# An API token speaks to the API, not for an interactive session: it cannot log out, enrol a second factor or
# manage API tokens (a stolen one cannot make itself a successor). A personal one may ask who it is.
SESSION_ONLY_PATHS = ("/api/v1/auth/", "/api/v1/api-tokens")
API_TOKEN_ALLOWED = {("user", "/api/v1/auth/me")}


def bearer_token(connection: ASGIConnection) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("missing bearer token: send Authorization: Bearer <token>")
    return token.strip()


def principal_from_token(box: Box, token: str) -> Principal:
    try:
        claims = tokens.decode(box.token_secret(), token)
    except tokens.InvalidTokenError as error:
        raise NotAuthorizedException(f"invalid or expired token ({error})") from error
    store = box.store()
    if store.query_one("SELECT 1 FROM revoked_tokens WHERE jti = ?", (claims.jti,)):
        raise NotAuthorizedException("this token has been revoked (logged out)")
    if claims.typ == "agent":
        agent = store.query_one("SELECT revoked FROM agents WHERE agent_id = ?", (claims.sub,))
        if agent is None or agent["revoked"]:
            raise NotAuthorizedException("this sensor has been revoked")
    else:
        claims = msgspec.structs.replace(claims, role=current_role(store, claims))
    return Principal(name=claims.sub, role=claims.role, kind=claims.typ, token_id=claims.jti, expires_at=claims.exp)


def current_role(store: Store, claims: tokens.Claims) -> str:
    """The role of the account a user token was issued to, while the token still fits the account: the same
    id, name and token generation (a password, role or status change or a deletion ends every older token)."""
    if claims.uid is None or claims.gen is None:
        raise NotAuthorizedException("this token names no account generation: log in again")
    user = store.query_one(
        "SELECT username, role, disabled, token_generation FROM users WHERE id = ?", (claims.uid,)
    )
    if user is None or user["username"] != claims.sub or user["disabled"]:
        raise NotAuthorizedException("this account no longer exists or is disabled")
    if user["token_generation"] != claims.gen:
        raise NotAuthorizedException(
            "this token was issued before the account's password, role or status changed: log in again"
        )
    return user["role"]


def principal_from_api_token(box: Box, token: str, source: str | None) -> Principal:
    try:
        identity = api_tokens.verify(box.store(), token, source)
    except api_tokens.InvalidApiToken as error:
        raise NotAuthorizedException(str(error)) from error
    kind = "user" if identity.kind == "personal" else "service"
    return Principal(name=identity.name, role=identity.role, kind=kind,
                     token_id=API_TOKEN_ID_PREFIX + identity.token_id, expires_at=identity.expires_at)


def refuse_api_token_on_session_paths(principal: Principal, path: str) -> None:
    if (principal.by_api_token and path.startswith(SESSION_ONLY_PATHS)
            and (principal.kind, path.rstrip("/")) not in API_TOKEN_ALLOWED):
        raise PermissionDeniedException("API tokens cannot do this: sign in to the box (a user session) instead")


class BearerAuthentication(AbstractAuthenticationMiddleware):
    def __init__(self, app, box: Box, exclude: list[str]) -> None:
        # OPTIONS too (Litestar lets it through by default, for CORS preflights, which this API does not
        # serve): the role guards that follow expect a user, and an unauthenticated OPTIONS got a 500.
        super().__init__(app, exclude=exclude, exclude_http_methods=[])
        self.box = box

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        token = bearer_token(connection)
        if api_tokens.is_api_token(token):
            principal = principal_from_api_token(self.box, token, connection.client.host if connection.client else None)
            refuse_api_token_on_session_paths(principal, connection.scope["path"])
        else:
            principal = principal_from_token(self.box, token)
        return AuthenticationResult(user=principal, auth=principal)


def requires_role(minimum: str):
    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        principal: Principal = connection.user
        if principal.kind not in ("user", "service"):
            raise PermissionDeniedException("this endpoint is for users, not sensors")
        if ROLE_RANK[principal.role] < ROLE_RANK[minimum]:
            raise PermissionDeniedException(f"this needs the {minimum} role; you are {principal.role}")

    guard.__name__ = f"requires_{minimum}"
    return guard


def requires_agent(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if connection.user.kind != "agent":
        raise PermissionDeniedException("this endpoint is for sensors (agent tokens) only")


viewer = requires_role("viewer")
analyst = requires_role("analyst")
admin = requires_role("admin")

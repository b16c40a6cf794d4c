"""/api-tokens: long-lived API tokens, made, listed and revoked from a signed-in session (never with a token).

Anyone signed in makes personal tokens with at most their own role and sees and revokes their own; an admin
also makes service tokens and sees and revokes every token. Making and revoking are audited.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, JSONBody

from appliance.api.security import Principal, viewer
from appliance.api_tokens import tokens
from appliance.audit.requests import record_request
from appliance.auth.users import ROLE_RANK
from appliance.store.database import Store

Role = Literal["admin", "analyst", "viewer"]


class ApiTokenIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`kind`: personal (acts for you, with at most your role) or service (admins only: a machine's token with
    a role of its own). `expires_in_days`: 1 to 730."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
    kind: tokens.Kind = "personal"
    role: Role = "viewer"
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=730)] = 90


class ApiTokenCreated(msgspec.Struct):
    token: str
    """The token itself: shown this once, stored nowhere (only its SHA-256 is kept)."""
    details: tokens.ApiToken


class ApiTokenList(msgspec.Struct):
    tokens: list[tokens.ApiToken]
    total: int


def _owner_row(store: Store, principal: Principal) -> dict:
    row = store.query_one("SELECT id, username, role FROM users WHERE username = ?", (principal.name,))
    if row is None:
        raise PermissionDeniedException("personal API tokens belong to a user account")
    return row


def _may_manage(principal: Principal, token: tokens.ApiToken) -> bool:
    return principal.role == "admin" or (token.kind == "personal" and token.username == principal.name)


class ApiTokensController(Controller):
    path = "/api-tokens"
    tags = ["api tokens"]

    @get("/", guards=[viewer], sync_to_thread=True, summary="API tokens: yours, or every token for an admin")
    def list_tokens(self, request: Request, store: NamedDependency[Store]) -> ApiTokenList:
        principal: Principal = request.user
        found = tokens.list_tokens(store, None if principal.role == "admin" else principal.name)
        return ApiTokenList(tokens=found, total=len(found))

    @post("/", guards=[viewer], sync_to_thread=True, summary="Make an API token (its value is shown once)")
    def create(self, data: JSONBody[ApiTokenIn], request: Request, store: NamedDependency[Store]) -> ApiTokenCreated:
        principal: Principal = request.user
        if data.kind == "service" and principal.role != "admin":
            raise PermissionDeniedException("only an admin makes service tokens")
        if ROLE_RANK[data.role] > ROLE_RANK[principal.role]:
            raise PermissionDeniedException(f"role: a token cannot have more than your own role ({principal.role})")
        with store.write_transaction():
            owner = _owner_row(store, principal) if data.kind == "personal" else None
            token, plaintext = tokens.issue(store, name=data.name, kind=data.kind, role=data.role, owner=owner,
                                            lifetime_days=data.expires_in_days, created_by=principal.name)
            record_request(store, request, action="api_token.created", target=token.id,
                           details={"name": data.name, "kind": data.kind, "role": data.role,
                                    "expires_at": token.expires_at})
        return ApiTokenCreated(token=plaintext, details=token)

    @delete("/{token_id:str}", guards=[viewer], status_code=200, sync_to_thread=True,
            summary="Revoke an API token: it stops working at once")
    def revoke(self, token_id: FromPath[str], request: Request, store: NamedDependency[Store]) -> tokens.ApiToken:
        principal: Principal = request.user
        with store.write_transaction():
            token = tokens.get(store, token_id)
            if token is None or not _may_manage(principal, token):
                raise NotFoundException(f"no API token {token_id}")
            revoked = tokens.revoke(store, token_id, principal.name)
            record_request(store, request, action="api_token.revoked", target=token_id,
                           details={"name": token.name, "kind": token.kind})
        return revoked

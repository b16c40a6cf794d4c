"""User management, for admins."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody

from appliance.api.security import admin
from appliance.audit.requests import record_request
from appliance.auth import users
from appliance.store.database import Store


class NewUser(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str
    role: str


class UserChange(msgspec.Struct, forbid_unknown_fields=True):
    role: str | None = None
    disabled: bool | None = None
    password: str | None = None
    totp_enabled: bool | None = None  # an admin may switch a lost second factor off; only its user enrols one


class UserList(msgspec.Struct):
    users: list[users.User]
    total: int


class UsersController(Controller):
    path = "/users"
    guards = [admin]
    tags = ["users"]

    @get("/", sync_to_thread=True, summary="List users")
    def list_users(self, store: NamedDependency[Store]) -> UserList:
        found = users.list_users(store)
        return UserList(users=found, total=len(found))

    @post("/", sync_to_thread=True, summary="Create a user")
    def create(self, data: JSONBody[NewUser], request: Request, store: NamedDependency[Store]) -> users.User:
        try:
            user = users.create_user(store, data.username, data.password, data.role)
        except users.UserError as error:
            raise ValidationException(str(error)) from error
        record_request(
            store,
            request,
            action="user.created",
            target=user.username,
            details={"role": user.role},
        )
        return user

    @patch("/{username:str}", sync_to_thread=True, summary="Change a user's role, password or disabled flag")
    def change(
        self, username: FromPath[str], data: JSONBody[UserChange], request: Request, store: NamedDependency[Store]
    ) -> users.User:
        if data.totp_enabled:
            raise ValidationException("totp_enabled: only the account's own user can enrol a one-time code app")
        try:
            user = users.update_user(store, username, role=data.role, disabled=data.disabled, password=data.password)
            if data.totp_enabled is False:
                user = users.disable_totp(store, username)
        except LookupError as error:
            raise NotFoundException(f"no user {username!r}") from error
        except users.UserError as error:
            raise ValidationException(str(error)) from error
        changed = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None and k != "password"}
        if data.password is not None:
            changed["password"] = "changed"
        record_request(
            store,
            request,
            action="user.changed",
            target=username,
            details=changed,
        )
        return user

    @delete("/{username:str}", sync_to_thread=True, status_code=200, summary="Delete a user")
    def remove(self, username: FromPath[str], request: Request, store: NamedDependency[Store]) -> dict[str, str]:
        try:
            users.delete_user(store, username)
        except LookupError as error:
            raise NotFoundException(f"no user {username!r}") from error
        except users.UserError as error:
            raise ValidationException(str(error)) from error
        record_request(store, request, action="user.deleted", target=username)
        return {"detail": f"user {username} deleted"}

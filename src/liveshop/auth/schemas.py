from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

Role = Literal["admin", "merchant", "anchor", "operator", "fan"]


class SignUp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=8, max_length=128)
    display_name: str = Field(min_length=1, max_length=64)


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=1, max_length=128)


class AccountOut(BaseModel):
    id: str
    email: str
    display_name: str
    roles: list[Role]
    is_active: bool
    created_at: datetime


class TokenOut(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    account: AccountOut


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class OperatorAssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator_id: str
    anchor_id: str


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None

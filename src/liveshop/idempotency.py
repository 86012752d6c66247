"""Idempotent commands: the same ``Idempotency-Key`` and body give the same result once.

A command runs in one transaction together with the insert of its key, so either both land
or neither does. A concurrent request with the same key blocks on the key's unique index
(PostgreSQL) or on the write lock (SQLite), then finds the stored result and replays it.
A key reused with another body (or on another operation) is a 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import JSON, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column, is_retryable
from liveshop.errors import Problem

REPLAY_HEADER = "Idempotent-Replayed"


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[str] = id_column()
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    operation: Mapped[str] = mapped_column(String(120))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


MAX_KEY_LENGTH = 255


def key_ok(key: str) -> bool:
    """At most :data:`MAX_KEY_LENGTH` printable ASCII characters (no controls, no NUL)."""
    return len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


async def require_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="A client-chosen unique key (e.g. a UUID); retries reuse it.",
        ),
    ] = None,
) -> str:
    if idempotency_key is None or not idempotency_key.strip():
        raise Problem(
            400,
            "idempotency.key_required",
            "this command needs an Idempotency-Key header",
        )
    key = idempotency_key.strip()
    if not key_ok(key):
        raise Problem(
            400,
            "idempotency.key_invalid",
            f"Idempotency-Key is at most {MAX_KEY_LENGTH} printable ASCII characters",
        )
    return key


IdempotencyKey = Annotated[str, Depends(require_key)]
"""The route parameter of every money or stock command: ``key: idempotency.IdempotencyKey``."""


def fingerprint(operation: str, payload: Any) -> str:
    document = {"op": operation, "body": payload}
    try:
        data = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer past 64 bits: the business rules refuse it after this
        data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


async def run(
    session: AsyncSession,
    *,
    scope: str,
    key: str,
    operation: str,
    payload: Any,
    now: datetime,
    action: Callable[[], Awaitable[BaseModel]],
    status_code: int = 200,
    attempts: int = 5,
) -> JSONResponse:
    """Run ``action`` once for (scope, key) and commit; replay the stored result after."""
    digest = fingerprint(operation, payload)
    for attempt in range(attempts):
        existing = (
            await session.execute(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            try:
                return _replay(existing, digest)
            finally:
                await session.rollback()
        record = IdempotencyRecord(
            scope=scope, key=key, operation=operation, fingerprint=digest, created_at=now
        )
        session.add(record)
        try:
            await session.flush()
        except IntegrityError:
            await session.rollback()  # a concurrent request with this key won: replay it
            continue
        try:
            result = await action()
            body = result.model_dump(mode="json")
            record.status_code = status_code
            record.response = body
            await session.commit()
        except IntegrityError as exc:
            await session.rollback()
            raise Problem(
                409, "request.conflict", "the command conflicts with the current state"
            ) from exc
        except Exception as exc:
            await session.rollback()
            if is_retryable(exc) and attempt + 1 < attempts:
                continue
            raise
        return JSONResponse(body, status_code=status_code)
    raise Problem(409, "idempotency.in_progress", "a request with this key is still running; retry")


def _replay(record: IdempotencyRecord, digest: str) -> JSONResponse:
    if record.fingerprint != digest:
        raise Problem(
            409,
            "idempotency.key_reused",
            "this Idempotency-Key was used with a different request",
        )
    if record.status_code is None:
        raise Problem(409, "idempotency.in_progress", "a request with this key is still running")
    return JSONResponse(
        record.response, status_code=record.status_code, headers={REPLAY_HEADER: "true"}
    )

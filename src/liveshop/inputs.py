"""Bounded request integers: every integer a client sends fits the column it lands in.

PostgreSQL's ``BIGINT`` holds up to 9,223,372,036,854,775,807 and ``INTEGER`` up to
2,147,483,647; a larger Python int reaches the driver and fails there (a 500). So every integer
of a request schema, query or path parameter is one of the types below (or carries bounds of
its own no wider than them); ``tests/test_inputs.py`` walks the OpenAPI and holds every one to
a minimum and a maximum inside ``BIGINT``.

Bounds are checked when the request is parsed: outside them the answer is 422
``request.invalid``, or the field's own stable code where a domain has one
(:class:`Bounded`, e.g. ``wallet.bad_amount``): a validation error whose type is a dotted code
becomes the problem's ``code`` (``errors.install``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final

from annotated_types import Interval
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, StrictInt
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

BIGINT_MAX: Final = 2**63 - 1
"""PostgreSQL ``BIGINT`` (SQLite's INTEGER holds the same)."""
INTEGER_MAX: Final = 2**31 - 1
"""PostgreSQL ``INTEGER``: counts, quantities, seconds."""

MAX_MONEY_MINOR: Final = 10**15
"""The largest amount any request may name: 10,000,000,000,000.00 in a two-decimal currency,
far above every domain's own limit, far below ``BIGINT`` (sums of many stay representable)."""
MAX_COUNT: Final = 10**9
"""The largest count or quantity a request may name (stored as ``INTEGER``)."""
MAX_SECONDS: Final = 10 * 366 * 24 * 3600
"""The longest duration a request may name: ten years (stored as ``INTEGER``)."""


@dataclass(frozen=True, slots=True)
class Bounded:
    """``ge <= value <= le``, refused with the domain's stable ``code`` (HTTP 422).

    Use as ``Annotated[StrictInt, Bounded(1, MAX, code="wallet.bad_amount")]``; ``over``
    is the code for a value above ``le`` when it differs (``envelope.too_large``).
    """

    ge: int
    le: int
    code: str
    over: str | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(minimum=self.ge, maximum=self.le)
        return json_schema

    def _check(self, value: int) -> int:
        if value < self.ge:
            raise PydanticCustomError(self.code, "must be at least {ge}", {"ge": self.ge})
        if value > self.le:
            code = self.over or self.code
            raise PydanticCustomError(code, "must be at most {le}", {"le": self.le})
        return value


# -- the types (lax: a query string's "12" is 12; Strict*: a JSON body's 12.0 is refused) ---

MONEY: Final = Interval(ge=0, le=MAX_MONEY_MINOR)
POSITIVE_MONEY: Final = Interval(ge=1, le=MAX_MONEY_MINOR)
COUNT: Final = Interval(ge=0, le=MAX_COUNT)
SECONDS: Final = Interval(ge=0, le=MAX_SECONDS)

Money = Annotated[int, MONEY]
"""An amount in integer minor units, 0..:data:`MAX_MONEY_MINOR`."""
StrictMoney = Annotated[StrictInt, MONEY]
PositiveMoney = Annotated[StrictInt, POSITIVE_MONEY]
"""A payment or refund: 1..:data:`MAX_MONEY_MINOR` minor units."""
Count = Annotated[int, COUNT]
"""A count or quantity, 0..:data:`MAX_COUNT`."""
Seconds = Annotated[int, SECONDS]
"""A duration in seconds, 0..:data:`MAX_SECONDS`."""

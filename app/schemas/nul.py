"""NUL (U+0000): PostgreSQL stores it in no text or JSON value, so a request carrying one is refused up front, on
every database alike, with a pointer to it (on SQLite it would be stored, and break JSON paths)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator
from pydantic_core import PydanticCustomError

from app.core.errors import FieldError, Invalid

NUL = "\x00"


def find_nul(value: object, pointer: str = "") -> str | None:
    """The JSON pointer of the first string, or object key, holding a NUL character in `value`; else None."""
    if isinstance(value, str):
        return pointer if NUL in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list | tuple) else ()
    for key, item in items:
        here = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
        if NUL in str(key):
            return here
        if (found := find_nul(item, here)) is not None:
            return found
    return None


def refuse_nul(value: object, pointer: str = "", detail: str = "NUL characters (U+0000) cannot be stored") -> None:
    """Raise Invalid, pointing at the first NUL in `value` (a pointer prefix given), when it holds one."""
    if (where := find_nul(value, pointer)) is not None:
        raise Invalid(detail, [FieldError(where or "/", "contains a NUL character", "nul_character")], "nul_character")


class RefusesNul(BaseModel):
    """A request body whose strings (keys of free-form objects included) may not hold NUL characters."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if (where := find_nul(data)) is not None:
            raise PydanticCustomError(
                "nul_character", "NUL characters (U+0000) cannot be stored (at {where})", {"where": where or "/"}
            )
        return data

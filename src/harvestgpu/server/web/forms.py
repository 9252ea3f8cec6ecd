"""HTML form input -> the API's request models, with errors keyed by the field they belong to.

Forms are validated by the same pydantic models as the JSON API, so a value the API refuses is
refused here with the same rule. Browsers send every value as text; the converters below turn
numbers into numbers and leave unparsable text as text, so the strict models report that field.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from harvestgpu.server.web.session import CSRF_FIELD, check_csrf

ModelT = TypeVar("ModelT", bound=BaseModel)
FORM_ERROR = "_form"  # errors that belong to no single field, shown above the form


class PostedForm(dict[str, str]):
    """Posted text fields (the last value of each name); ``every(name)`` gives all of a name's
    values, for checkbox groups."""

    def __init__(self, form: FormData) -> None:
        super().__init__((name, value) for name, value in form.multi_items() if isinstance(value, str))
        self._all = {name: [v for v in form.getlist(name) if isinstance(v, str)] for name in form}

    def every(self, name: str) -> list[str]:
        return list(self._all.get(name, []))


async def read_form(request: Request) -> PostedForm:
    """The posted fields as text, after checking the CSRF token (raises CsrfRejected)."""
    fields = PostedForm(await request.form())
    check_csrf(request, fields.pop(CSRF_FIELD, None))
    return fields


def optional_text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def optional_number(value: str | None) -> float | str | None:
    text = optional_text(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    # "nan" and "inf" parse as floats but are no amount: left as text, they read "Enter a number."
    return number if math.isfinite(number) else text


def optional_int(value: str | None) -> int | str | None:
    text = optional_text(value)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _message(error: Any) -> str:
    kind = str(error.get("type", ""))
    limits = error.get("ctx") or {}
    empty = kind == "string_too_short" and error.get("input") == ""
    if kind == "missing" or empty or (kind == "string_too_short" and limits.get("min_length") == 1):
        return "This field is required."
    if kind == "string_too_short":
        return f"Must be at least {limits['min_length']} characters."
    if kind == "string_too_long":
        return f"Must be at most {limits['max_length']} characters."
    if kind in ("float_type", "float_parsing", "int_type", "int_parsing", "int_from_float"):
        return "Enter a whole number." if kind.startswith("int") else "Enter a number."
    if kind == "greater_than":
        return f"Must be more than {limits['gt']:,.10g}."
    if kind == "greater_than_equal":
        return f"Must be at least {limits['ge']:,.10g}."
    if kind == "less_than_equal":
        return f"Must be at most {limits['le']:,.10g}."
    text = str(error.get("msg", "Invalid value")).removeprefix("Value error, ")
    if kind == "value_error" and "email" in text.lower():
        return "Enter a valid email address."
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def error_message(error: Any) -> str:
    """One pydantic error (an item of ``errors()``) as a sentence for a person."""
    return _message(error)


def field_errors(exc: ValidationError) -> dict[str, str]:
    """First error per field; errors without a field go under FORM_ERROR."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        field = loc[0] if loc else FORM_ERROR
        errors.setdefault(field, _message(error))
    return errors


def validate(model: type[ModelT], values: dict[str, Any]) -> tuple[ModelT | None, dict[str, str]]:
    """(parsed model, {}) or (None, {field: message}). ``None`` values are left out."""
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None}), {}
    except ValidationError as exc:
        return None, field_errors(exc)

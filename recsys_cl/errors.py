"""Errors the CLI turns into a one-line message and a non-zero exit, and the one conversion of
pydantic's validation errors into them (every typed config goes through it)."""

from __future__ import annotations

from typing import Any, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class InputError(ValueError):
    """Bad user input (file, column, line, key, option); the message names where and what."""


class SplitError(InputError):
    """A split that would be empty or that fails its own consistency checks."""


def validation_location(exc: ValidationError, *, with_input: bool = False) -> tuple[str, str]:
    """(``key.path``, message) of pydantic's first error (``Value error, `` prefix dropped)."""
    first = exc.errors()[0]
    key = ".".join(str(p) for p in first.get("loc", ()))
    message = str(first.get("msg", "")).removeprefix("Value error, ")
    if with_input and "input" in first:
        message += f" (got {first['input']!r})"
    return key, message


def validation_message(exc: ValidationError, *, with_input: bool = False) -> str:
    """``key.path: message`` of pydantic's first error."""
    key, message = validation_location(exc, with_input=with_input)
    return f"{key}: {message}" if key else message


def validated(
    model: type[Model], values: Mapping[str, Any] | None, where: str = "", *, key_prefix: str = "", with_input: bool = False
) -> Model:
    """``model.model_validate(values)``, or an :class:`InputError` ``"{where}: {key_prefix}key.path: message"``
    (``where`` names the file or command, ``key_prefix`` the path of ``values`` inside it, e.g. ``models.3.params.``)."""
    try:
        return model.model_validate(dict(values or {}))
    except ValidationError as exc:
        key, message = validation_location(exc, with_input=with_input)
        path = f"{key_prefix}{key}" if key else key_prefix.rstrip(".")
        located = f"{path}: {message}" if path else message
        raise InputError(f"{where}: {located}" if where else located) from None

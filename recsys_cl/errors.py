"""Errors the CLI turns into a one-line message and a non-zero exit, and the one conversion of
pydantic's validation errors into them (every typed config goes through it)."""

from __future__ import annotations

import contextlib
import errno
import os
import reprlib
from typing import Any, Iterator, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class InputError(ValueError):
    """Bad user input (file, column, line, key, option); the message names where and what."""


class SplitError(InputError):
    """A split that would be empty or that fails its own consistency checks."""


class ModelDiverged(InputError):
    """A model's scores came out NaN with the parameters it was given (a learning rate too high, ...). For a
    run it is the user's parameters: one line and exit 2 like bad input. For a tuning trial it is that
    trial's failure: recorded, and the search goes on (``bench._trials``)."""


class StorageError(InputError):
    """The machine could not store an output (disk full, quota, read-only): exit 2 like bad input, naming
    the path; the writer that raises it has removed what it had begun, so nothing is half-written."""


#: a refused value is shown cut to this many characters: a value that expanded from a few bytes of YAML
#: (aliases) can be hundreds of MB, and the message must stay one line
SHOWN_CHARS = 80
#: the longest error line the CLI prints (whatever a message embeds, it stays readable)
MESSAGE_CHARS = 2000
#: errno values that mean the storage, not the input, failed
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = SHOWN_CHARS
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 4
_repr.maxlevel = 2


def shown(value: Any) -> str:
    """``repr(value)`` cut to about :data:`SHOWN_CHARS` characters (nested containers elided by reprlib,
    which never builds the whole repr: a refused 500 MB value costs nothing to show)."""
    text = _repr.repr(value)
    return text if len(text) <= SHOWN_CHARS + 10 else text[:SHOWN_CHARS] + "..."


def cut_message(message: str) -> str:
    """A message cut to :data:`MESSAGE_CHARS` characters, saying how much was left out."""
    if len(message) <= MESSAGE_CHARS:
        return message
    return f"{message[:MESSAGE_CHARS]}... ({len(message) - MESSAGE_CHARS:,} more characters)"


def storage_fault(exc: BaseException) -> str | None:
    """The reason (``No space left on device``) if ``exc`` or what caused it is the machine's storage
    failing, else None. Libraries wrap the OSError (torch, polars and pyarrow raise their own types
    with the text in the message), so the chain and the text are both looked at."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in STORAGE_ERRNOS:
            return os.strerror(current.errno)
        text = str(current)
        for code in STORAGE_ERRNOS:
            if os.strerror(code) in text:
                return os.strerror(code)
        current = current.__cause__ or current.__context__
    return None


def storage_error(path: Any, exc: BaseException) -> StorageError | None:
    """A :class:`StorageError` naming ``path`` if ``exc`` is a storage fault (see :func:`storage_fault`)."""
    reason = storage_fault(exc)
    return StorageError(f"{path}: cannot write: {reason}") if reason else None


@contextlib.contextmanager
def storage_errors(path: Any) -> Iterator[None]:
    """A storage fault inside the block (see :func:`storage_fault`) comes out as a :class:`StorageError`
    naming ``path`` (the OS names no file when a write fails for space); other errors pass unchanged."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        error = storage_error(getattr(exc, "filename", None) or path, exc)
        if error is None:
            raise
        raise error from exc


def exit_status(exc: BaseException) -> tuple[int, str] | None:
    """The one mapping from exceptions to the CLI's exit codes: ``(2, message)`` for bad input, bad files
    and storage faults; None for anything else (a bug: its traceback is shown)."""
    if isinstance(exc, InputError):
        return 2, cut_message(str(exc))
    reason = storage_fault(exc)
    if reason is not None:
        where = getattr(exc, "filename", None)
        return 2, cut_message(f"{where}: cannot write: {reason}" if where else f"cannot write: {reason}")
    return None


def validation_location(exc: ValidationError, *, with_input: bool = False) -> tuple[str, str]:
    """(``key.path``, message) of pydantic's first error (``Value error, `` prefix dropped)."""
    first = exc.errors()[0]
    key = ".".join(str(p) for p in first.get("loc", ()))
    message = str(first.get("msg", "")).removeprefix("Value error, ")
    if with_input and "input" in first:
        message += f" (got {shown(first['input'])})"
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

"""Errors the CLI turns into a one-line message and a non-zero exit."""


class InputError(ValueError):
    """Bad user input (file, column, line, key, option); the message names where and what."""


class SplitError(InputError):
    """A split that would be empty or that fails its own consistency checks."""

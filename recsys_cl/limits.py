"""Bounds a user-given number or string is checked against, by what it means, in one place so configs,
options and the command line agree (a number outside them is refused with its key, never allocated).

- seeds: NumPy's and torch's seeding take 0 .. 2**32 - 1 (``np.random.seed(-1)`` raises deep inside a run);
- an id field of a rankings file: ids are short (H&M customer ids have 64 characters), and a 200 MB "id"
  would be widened to 200 MB per row by NumPy's fixed-width strings;
- a cutoff K is bounded by the catalogue where one is known (``Recommender.recommend``, the rankings
  reader), by :data:`MAX_LIST_LENGTH` where none is.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

SEED_MAX = 2**32 - 1
#: a seed as every config and option takes it
Seed = Annotated[int, Field(ge=0, le=SEED_MAX, description="seed, 0 .. 2**32 - 1")]
#: characters of one user or item id in a rankings file
MAX_ID_CHARS = 1_000
#: positions of a ranked list when no catalogue says how many items there are
MAX_LIST_LENGTH = 100_000
#: pixels of an image the encoders decode (H&M's photos have about 2 million; PIL's own warning is at 89 million)
MAX_IMAGE_PIXELS = 40_000_000


def plain_name(value: str, what: str = "name") -> str:
    """``value`` if it can name a folder under a root without leaving it (a dataset's folder, a config's
    ``results/<name>``): no separator, no leading dot (``.``, ``..``, hidden), no surrounding spaces or
    control characters, at most 255 bytes; else a ValueError for the enclosing validator."""
    if (
        not value
        or value.startswith(".")
        or any(c in value for c in "/\\") or any(ord(c) < 32 for c in value)
        or value.strip() != value
        or len(value.encode("utf-8", "surrogatepass")) > 255
    ):  # fmt: skip
        raise ValueError(f"{what} {value[:80]!r} must be a plain folder name (no slash or backslash, no leading '.', at most 255 bytes)")
    return value

"""Commands of the docs pages, for the tests that run them as written.

A page marks the blocks a test runs by tagging the fence ``bash`` (other blocks — output, YAML, ``text`` —
are shown, not run). ``bash_commands(page)`` returns one string per command line of those blocks, with
backslash continuations joined and comments dropped, in page order.
"""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).parents[1] / "docs"

_BASH_BLOCK = re.compile(r"^```bash[^\n]*\n(.*?)^```", re.S | re.M)


def bash_commands(page: str | Path) -> list[str]:
    """Every command of the ```bash blocks of ``docs/<page>`` (or a path), continuations joined."""
    path = Path(page) if Path(page).is_absolute() else DOCS / page
    commands: list[str] = []
    for block in _BASH_BLOCK.findall(path.read_text(encoding="utf-8")):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def yaml_blocks(page: str | Path) -> list[str]:
    """The ```yaml blocks of a page, in order (configs a page shows and a test writes to disk)."""
    path = Path(page) if Path(page).is_absolute() else DOCS / page
    return re.findall(r"^```yaml[^\n]*\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)

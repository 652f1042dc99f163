"""The two progress-callback shapes the library reports through (the CLI draws them as bars).

Library code never prints: long work calls one of these, if given, as it advances.
"""

from __future__ import annotations

from typing import Callable

#: ``(stage, done, total)``: a multi-stage job (prepare, embed, bench), e.g. ``("split loo", 1, 4)``
StageProgress = Callable[[str, int, int], None]
#: ``(done, total)``: one loop (epochs while fitting, users while ranking, items while encoding)
StepProgress = Callable[[int, int], None]


def no_stage_progress(stage: str, done: int, total: int) -> None:
    """A :data:`StageProgress` that does nothing (so callers need not test for None)."""


def no_step_progress(done: int, total: int) -> None:
    """A :data:`StepProgress` that does nothing."""

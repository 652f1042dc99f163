"""What the command line's commands share: the terminal consoles, the progress bar, option parsing (one-line
errors naming the option) and printing helpers. ``cli`` holds the commands themselves."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from recsys_cl.data import PROTOCOLS
from recsys_cl.errors import InputError


# Piped output (CI logs, files) gets wide tables instead of rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def field_option(options: Any, field: str, *flags: str) -> Any:
    """A command-line option whose default and help are the options class's own field (nothing copied here)."""
    info = options.model_fields[field]
    return typer.Option(info.get_default(call_default_factory=True), *flags, help=info.description or "")


@dataclass
class _LineTask:
    description: str
    total: float | None
    completed: float = 0
    stage: str = ""
    printed: float = field(default=-float("inf"))  # monotonic time of the last line printed


class LineProgress:
    """The part of rich's ``Progress`` the commands use (``add_task``, ``update``, ``tasks``), as plain
    timestamped lines: rich draws nothing into a file or pipe until the work ends, so a run under
    ``nohup``, a batch scheduler or CI would show no progress at all. A task prints when its stage text
    changes, when it finishes, and otherwise at most once every ``every`` seconds."""

    def __init__(self, console: Console, every: float = 30.0) -> None:
        self.console, self.every = console, every
        self.tasks: list[_LineTask] = []

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        self.tasks.append(_LineTask(description, total, stage=str(fields.get("stage", ""))))
        return len(self.tasks) - 1

    def update(self, task_id: int, *, completed: float | None = None, total: float | None = None, **fields: Any) -> None:
        task = self.tasks[task_id]
        before = (task.completed, task.stage)
        task.completed = task.completed if completed is None else completed
        task.total = task.total if total is None else total
        task.stage = str(fields.get("stage", task.stage))
        now = time.monotonic()
        finished = task.total is not None and task.completed >= task.total and before[0] < task.total
        if task.stage != before[1] or finished or (task.completed != before[0] and now - task.printed >= self.every):
            task.printed = now
            count = f" {task.completed:g}/{task.total:g}" if task.total else ""
            self.console.print(f"{time.strftime('%H:%M:%S')} {task.description}{count} {task.stage}".rstrip(),
                               markup=False, highlight=False, soft_wrap=True)  # fmt: skip


def progress_display(*columns: Any) -> Any:
    """rich's progress bars on a terminal; :class:`LineProgress` when stderr is a file or pipe."""
    if not err.is_terminal:
        return LineProgress(err)
    return Progress(*columns, console=err, transient=False)


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr (plain lines when it is not a terminal), driven by the library's
    ``progress(stage, done, total)`` callbacks."""
    with progress_display(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[stage]}"),
                          TimeElapsedColumn()) as bar:  # fmt: skip
        task = bar.add_task(description, total=1, stage="")

        def update(stage: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, 1), stage=stage)

        yield update
        bar.update(task, completed=bar.tasks[0].total, stage="done")


def protocol_list(value: str) -> list[str]:
    names = [p.strip() for p in value.split(",") if p.strip()]
    for name in names:
        if name not in PROTOCOLS:
            raise InputError(f"--protocols: unknown protocol {name!r}; expected some of {', '.join(PROTOCOLS)}")
    return names


def summary_rows(path: Path) -> list[dict[str, Any]]:
    from recsys_cl.data import load_dataset, split_summary

    dataset = load_dataset(path)
    n_catalogue = dataset.meta.get("counts", {}).get("items_in_catalogue")
    rows = []
    for protocol in dataset.protocols or ["loo"]:
        for row in split_summary(dataset.split(protocol), n_catalogue):
            rows.append({"dataset": dataset.name, "protocol": protocol, **row})
    return rows


def print_table(table: Any) -> None:
    """A reporting table in the terminal, its note as plain text below (wrapped to the terminal, not the table)."""
    out.print(table.to_rich())
    if table.note:
        out.print(table.note, markup=False, highlight=False, soft_wrap=True)


def summary_table(rows: list[dict[str, Any]]) -> Any:
    from recsys_cl.reporting import splits_table

    return splits_table(rows).to_rich()


def print_replaced_bytes(meta: dict[str, Any]) -> None:
    replaced = {name: n for name, n in meta.get("lines_with_replaced_bytes", {}).items() if n}
    if replaced:
        counts = ", ".join(f"{name} {n} line{'s' * (n != 1)}" for name, n in replaced.items())
        err.print(f"replaced bytes that are not UTF-8 by U+FFFD: {counts}", markup=False, highlight=False)


def print_dataset_summary(path: Path, meta: dict[str, Any]) -> None:
    out.print(f"wrote {path}: {json.dumps(meta['counts'])}")
    out.print(summary_table(summary_rows(path)))


def validated_options(cls: Any, **values: Any) -> Any:
    from pydantic import ValidationError

    from recsys_cl.errors import validation_location

    try:
        return cls(**values)
    except ValidationError as exc:  # one line naming the command-line option
        key, message = validation_location(exc)
        raise InputError(f"--{key.replace('_', '-')}: {message}") from None


def csv_list(value: str, option: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise InputError(f"{option}: empty list")
    return items


def int_list(value: str, option: str) -> list[int]:
    try:
        return [int(v) for v in csv_list(value, option)]
    except ValueError as exc:
        raise InputError(f"{option}: expected comma-separated integers, got {value!r}") from exc


def split_pair(item: str, option: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise InputError(f"{option}: expected NAME=VALUE, got {item!r}")
    return key, value


def key_values(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values parsed as JSON when they are JSON (numbers, lists, objects), else strings."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, value = split_pair(item, "--option")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))

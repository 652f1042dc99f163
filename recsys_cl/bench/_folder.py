"""The results folder as a place: what it may already hold before ``bench`` or ``tune`` writes into it,
and one writer at a time.

A results folder is reused on purpose (finished cells are kept and reused when a config comes back, a run
is resumed after a crash), so a folder holding this config's earlier run, or the parts of a run that never
wrote its ``run.json``, is taken as it is. A folder holding something else is refused unless the caller asks
for it (``--overwrite``): a results folder whose ``run.json`` names another config (its metrics.csv and
run.json would be replaced by this run's), or a folder with files a results folder never holds (a home
folder given as ``--out`` by mistake).

Two runs on one folder would both run every unfinished cell and race on ``run.json``: the folder's
``.lock`` (``filelock``: an OS lock, released when its process ends, ``kill -9`` included) admits one,
and the second is refused with who holds it (pid, host, command, since when).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from recsys_cl.errors import InputError, storage_errors
from recsys_cl.files import check_output_dir, read_json

#: what ``bench`` and ``tune`` write at the top of a results folder (see ``_runner``'s layout)
RESULTS_ENTRIES = frozenset(
    {"run.json", "metrics.csv", "costs.csv", "cells", "data", "embeddings", "tuning", ".lock", ".lock.holder"}
)
LOCK_NAME = ".lock"


def check_results_folder(out_dir: str | Path, config_name: str, *, overwrite: bool = False) -> None:
    """Refuse (InputError) to write the results of ``config_name`` into a folder that holds another
    experiment or files that are not a results folder's, unless ``overwrite``."""
    out_dir = Path(out_dir)
    if overwrite or not out_dir.is_dir():
        return
    hint = "; choose another --out, or pass --overwrite to write into it anyway"
    # hidden *.tmp files are what atomic writes leave when killed mid-write
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in RESULTS_ENTRIES and not (p.name.startswith(".") and p.name.endswith(".tmp")))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise InputError(f"{out_dir}: not a results folder (it holds {shown}){hint}")
    run_json = out_dir / "run.json"
    if run_json.is_file():
        try:
            held = read_json(run_json, "run record").get("config", {}).get("name")
        except (InputError, AttributeError):
            raise InputError(f"{run_json}: unreadable run record, so what the folder holds is unknown{hint}") from None
        if held != config_name:
            raise InputError(f"{out_dir}: holds the results of config {held!r}, not {config_name!r}{hint}")


@contextlib.contextmanager
def results_lock(out_dir: str | Path, command: str = "bench") -> Iterator[None]:
    """Hold ``OUT/.lock`` for the block; a folder another process holds is an InputError naming it."""
    import filelock

    out_dir = check_output_dir(out_dir)  # a file, or a folder that cannot be written: one line, not a traceback
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(out_dir / LOCK_NAME))
    holder_file = out_dir / f"{LOCK_NAME}.holder"
    try:
        with storage_errors(out_dir):
            lock.acquire(timeout=0)
    except filelock.Timeout:
        raise InputError(f"{out_dir}: in use by another run ({_holder(holder_file)}); wait for it to end or use another --out") from None
    try:
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "since": time.time(),
                  "argv": " ".join(sys.argv[1:])[:300]}  # fmt: skip
        with storage_errors(out_dir):  # whatever the run writes without naming a file is named by its folder
            holder_file.write_text(json.dumps(holder), encoding="utf-8")
            yield
    finally:
        with contextlib.suppress(OSError):
            holder_file.unlink()
        lock.release()


def _holder(holder_file: Path) -> str:
    try:
        holder = json.loads(holder_file.read_text(encoding="utf-8"))
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(holder["since"])))
        return f"recsys-cl {holder['command']}, pid {holder['pid']} on {holder['host']}, since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"

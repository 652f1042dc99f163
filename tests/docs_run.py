"""Running a docs page's ```bash commands as written, in a temporary folder.

Each command runs in a subprocess with this checkout's ``recsys_cl`` first on the path. Three words are
mapped onto this test environment, and nothing else is changed: ``recsys-cl`` and ``pytest`` run as
``python -m recsys_cl.cli`` / ``python -m pytest`` with the interpreter running the tests, and
``pip install PATH`` installs PATH without dependencies into a folder on PYTHONPATH (``--target``),
instead of into the shared environment, which a test must not change.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pip_install_target(source: Path, target: Path) -> None:
    """``pip install SOURCE`` into ``target`` (a copy of SOURCE is built, so the build leaves nothing behind)."""
    build = target.parent / f"{source.name}-build-{len(list(target.parent.iterdir()))}"
    shutil.copytree(source, build, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
                    "--disable-pip-version-check", "--target", str(target), str(build)], check=True)  # fmt: skip


def env_with(*paths: Path) -> dict[str, str]:
    """This process's environment with ``paths`` first on PYTHONPATH, then this checkout's recsys_cl."""
    python_path = [str(p) for p in paths] + [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(python_path), "HF_HUB_OFFLINE": "1"}


def run_commands(commands: list[str], cwd: Path, site: Path) -> list[subprocess.CompletedProcess]:
    """Run ``commands`` in ``cwd`` (``pip install`` goes to ``site``); each must exit 0."""
    site.mkdir(parents=True, exist_ok=True)
    env = env_with(site)
    done = []
    for command in commands:
        words = shlex.split(command)
        if words[:2] == ["pip", "install"]:
            pip_install_target((cwd / words[-1]).resolve(), site)
            continue
        head = {"recsys-cl": [sys.executable, "-m", "recsys_cl.cli"], "pytest": [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
                "python": [sys.executable]}[words[0]]  # fmt: skip
        result = subprocess.run(head + words[1:], cwd=cwd, env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        done.append(result)
    return done

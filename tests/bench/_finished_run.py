"""A finished benchmark run of a config text, for the tests that read its cells and artifacts (recommend)."""

from __future__ import annotations

from pathlib import Path


def finished_run(root: Path, name: str, config_text: str) -> Path:
    """Write ``root/<name>.yaml`` and run its benchmark into ``root/run``; returns ``root``."""
    from recsys_cl.bench import load_config, run_benchmark

    (root / f"{name}.yaml").write_text(config_text)
    run_benchmark(load_config(root / f"{name}.yaml"), root / "run")
    return root

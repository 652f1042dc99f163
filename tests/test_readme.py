"""The README's Python example runs as written (from a fresh folder) and prints what it says."""

import contextlib
import io
import os
import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def python_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use it from Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_notebook_example_runs(tmp_path):
    code = python_example()
    assert len(code.strip().splitlines()) <= 12
    printed = io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    finally:
        os.chdir(cwd)
    out = printed.getvalue()
    # the numbers the README quotes for this example (seeded, so exact)
    assert "'pop': 0.0438" in out and "'implicit-als(factors=32, epochs=10)': 0.0711" in out
    assert (tmp_path / "datasets" / "atomic" / "ml-100k" / "ml-100k.train.inter").is_file()

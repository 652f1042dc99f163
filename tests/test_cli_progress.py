"""Progress in a log: with stderr a file or pipe (nohup, a batch scheduler, CI), every long command prints
timestamped lines as it goes; rich's bars would print nothing until the work ended."""

import re

from rich.console import Console

from recsys_cl._cli_support import LineProgress

CONFIG = """name: lines
datasets:
  - {name: hs, source: hm-synth, synth: {customers: 40, articles: 25, weeks: 3, seed: 1}}
models:
  - {model: pop}
  - {model: itemknn}
tuning: {trials: 2}
"""


def test_bench_into_a_log_prints_each_study_and_cell_as_it_happens(tmp_path, cli):
    config = tmp_path / "lines.yaml"
    config.write_text(CONFIG)
    code, _, err = cli(["bench", str(config), "--out", str(tmp_path / "out")])
    assert code == 0, err
    lines = err.splitlines()
    stamped = [line for line in lines if re.match(r"\d\d:\d\d:\d\d ", line)]
    assert stamped and len(stamped) == len([line for line in lines if line.strip()])
    # the tuning trials one by one, then every cell when it starts and when it is done, in that order
    assert any(re.search(r"tune hs/loo/ItemKNN 1/2 trial 1/2", line) for line in lines)
    done = [line[9:] for line in lines if " done: hs/loo/" in line]
    assert done == ["grid 1/3 done: hs/loo/Pop/seed=0", "grid 2/3 done: hs/loo/ItemKNN/seed=0",
                    "grid 3/3 done: hs/loo/ItemKNN [default]/seed=0"]  # fmt: skip


def test_a_counting_task_prints_on_new_stage_and_end_not_on_every_step():
    console = Console(record=True, width=200)
    bar = LineProgress(console, every=3600)
    task = bar.add_task("rank", total=1000, stage="users")
    for done in range(1, 1001):
        bar.update(task, completed=done)
    bar.update(task, stage="write")
    text = console.export_text().splitlines()
    assert [line[9:] for line in text] == ["rank 1/1000 users", "rank 1000/1000 users", "rank 1000/1000 write"]

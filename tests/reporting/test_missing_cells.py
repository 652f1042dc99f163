"""Class: results silently wrong (results side). A run whose run.json lists a cell that is not in the
folder is not reported, baselined or compared as if that model never ran: exit 2 naming the cells, or
with ``report --allow-missing`` a report whose first line says which cells it lacks."""

import numpy as np

from .conftest import N_USERS, write_run


def test_missing_cells_are_named_not_dropped(tmp_path, cli):
    run = write_run(tmp_path / "run", {("pop", "none"): np.full(N_USERS, 0.1), ("als", "none"): np.full(N_USERS, 0.3),
                                       ("knn", "none"): np.full(N_USERS, 0.2)})  # fmt: skip
    code, _, _ = cli(["baseline", "save", str(run), "--out", str(tmp_path / "b.json")])
    assert code == 0
    (run / "cells" / "k1.json").unlink()  # the als cell
    named = "1 of the 3 cells run.json lists are missing: ds/loo/als/seed=0 (cells/k1.json)"
    for argv in (["report", str(run), "--out", str(tmp_path / "rep"), "--resamples", "20"],
                 ["baseline", "save", str(run), "--out", str(tmp_path / "b2.json")],
                 ["compare", str(run), "--baseline", str(tmp_path / "b.json")]):  # fmt: skip
        code, out, err = cli(argv)
        assert code == 2 and named in err, (argv, err)
    assert not (tmp_path / "rep").exists() and not (tmp_path / "b2.json").exists()

    code, _, err = cli(["report", str(run), "--out", str(tmp_path / "rep"), "--resamples", "20", "--allow-missing"])
    assert code == 0 and "INCOMPLETE" in err
    first = (tmp_path / "rep" / "report.md").read_text().splitlines()[0]
    assert first == "**INCOMPLETE: this report lacks 1 of 3 cells of the run (ds/loo/als/seed=0 (cells/k1.json))**"
    page = (tmp_path / "rep" / "report.html").read_text()
    assert -1 < page.find("INCOMPLETE: this report lacks 1 of 3 cells") < page.find("<h1>")  # first thing on the page

"""The cost table: means over seeds per variant beside the significance metric; cells without costs as '–'."""

from pathlib import Path

import polars as pl

from recsys_cl.reporting._cost import cost_frame, cost_table, cost_tables, write_costs_csv
from recsys_cl.reporting._records import CellCost, CellRecord, EnergySetup, RunRecord, StageCost
from recsys_cl.reporting._results import Results

SETUP = EnergySetup(tool="codecarbon 3.3.2 (offline)", tracking_mode="process", cpu_power="TDP x CPU share",
                    cpu_tdp_w=8.0, carbon_intensity_g_per_kwh=475.0, note="estimate, no RAPL counters readable")  # fmt: skip


def stage(before, peak, wh, gpu=None):
    return StageCost(rss_before_mib=before, peak_rss_mib=peak, energy_wh=wh, co2e_g=wh * 0.475, gpu_peak_mib=gpu)


def cell(label, seed, ndcg, fit_s, cost):
    return CellRecord(dataset="ds", protocol="loo", model=label.lower(), label=label, model_name=label.lower(), seed=seed,
                      summary={"ndcg@10": ndcg, "hr@10": 0.5}, fit_seconds=fit_s, recommend_seconds=0.5, cost=cost)  # fmt: skip


def results(cells):
    run = RunRecord(config={"significance": {"baseline": "Pop", "metric": "ndcg@10", "alpha": 0.05}}, recsys_cl_version="t")
    return Results(Path("-"), run, cells)


def test_means_over_seeds_per_variant_beside_the_metric():
    cells = [
        cell("ALS", 0, 0.2, 2.0, CellCost(memory_method="vmhwm", fit=stage(500, 900, 0.002), recommend=stage(600, 700, 0.001), energy=SETUP)),
        cell("ALS", 1, 0.4, 4.0, CellCost(memory_method="vmhwm", fit=stage(500, 700, 0.004), recommend=stage(600, 1100, 0.001), energy=SETUP)),
        cell("Pop", 0, 0.1, 150.0, None),  # recorded before costs existed
        cell("Pop", 1, 0.1, 250.0, None),
    ]  # fmt: skip
    table = cost_table(results(cells), "ds", "loo")
    assert table.columns == ["model", "ndcg@10", "fit s", "recommend s", "peak RSS MiB", "RSS added MiB", "energy Wh", "CO2e g"]
    als, pop = table.rows
    # peak: max over the stages per cell (900, 1100) -> 1000; added: (400, 500) -> 450; energy: (0.003, 0.005) -> 0.004
    assert als == ["ALS", "0.3000", "3", "0.5", "1,000", "450", "0.004", "0.0019"]
    assert pop == ["Pop", "0.1000", "200", "0.5", "–", "–", "–", "–"]
    assert "no RAPL" in table.note and "2 cells were recorded before costs" in table.note
    assert [t.title for t in cost_tables(results(cells))] == ["ds / loo: cost per cell"]


def test_a_gpu_column_only_when_a_cell_ran_on_cuda_and_costs_csv_rows(tmp_path):
    cpu = CellCost(memory_method="sampled", fit=stage(1, 2, 0.1), recommend=stage(1, 2, 0.1))
    gpu = CellCost(memory_method="sampled", fit=stage(1, 2, 0.1, gpu=300.0), recommend=stage(1, 2, 0.1, gpu=40.0))
    assert "GPU peak MiB" not in cost_table(results([cell("A", 0, 0.1, 1.0, cpu)]), "ds", "loo").columns
    table = cost_table(results([cell("A", 0, 0.1, 1.0, cpu), cell("B", 0, 0.1, 1.0, gpu)]), "ds", "loo")
    column = table.columns.index("GPU peak MiB")
    assert [row[column] for row in table.rows] == ["–", "300"]
    records = [cell("A", 0, 0.1, 1.0, cpu), cell("B", 0, 0.1, 1.0, None)]
    write_costs_csv(records, tmp_path / "costs.csv")
    frame = pl.read_csv(tmp_path / "costs.csv", schema=dict(cost_frame(records).schema))
    assert frame["energy_wh"].to_list() == [0.2, None] and frame["fit_rss_added_mib"].to_list() == [1.0, None]
    assert frame["memory_method"].to_list() == ["sampled", None] and frame["label"].to_list() == ["A", "B"]

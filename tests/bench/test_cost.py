"""Cost per cell: per-stage peak memory (both methods), GPU peaks, CodeCarbon energy offline and silent,
the cost in cell records and costs.csv."""

import json
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cl.bench import load_config, run_benchmark
from recsys_cl.bench import _cost
from recsys_cl.bench._cost import COUNTRY_VARIABLE, CostMeter, check_energy_settings, set_country
from recsys_cl.errors import InputError
from recsys_cl.reporting import read_cell
from recsys_cl.reporting._cost import COSTS_CSV_SCHEMA

RAW = Path(__file__).parents[1] / "data" / "fixtures" / "hm_raw"
BIG_MIB = 200


def transient_allocation(mib=BIG_MIB, hold=0.05):
    """Touch ``mib`` MiB, hold it briefly, free it: the RSS at the stage's end is back where it started."""
    block = np.ones(mib * 2**20 // 8)
    time.sleep(hold)
    del block


@pytest.mark.parametrize("method", ["vmhwm", "sampled"])
def test_peak_memory_is_per_stage_and_catches_a_freed_allocation(method):
    if method == "vmhwm" and not _cost._high_water_mark_resettable():
        pytest.skip("this kernel does not let a process reset its VmHWM")
    meter = CostMeter("cpu", energy=False, memory_method=method)
    with meter.stage("fit"):
        transient_allocation()
    with meter.stage("recommend"):
        pass
    cost = meter.cost()
    assert cost.memory_method == method
    # freed before the stage ended, so only a peak (not RSS at the end) sees it
    assert BIG_MIB * 0.9 <= cost.fit.rss_added_mib <= BIG_MIB * 1.5
    assert cost.fit.peak_rss_mib >= cost.fit.rss_before_mib + BIG_MIB * 0.9
    # the fit's peak is not carried into recommend (a lifetime peak such as getrusage would carry it)
    assert cost.recommend.rss_added_mib < BIG_MIB / 4
    assert cost.fit.gpu_peak_mib is None and cost.fit.energy_wh is None and cost.energy is None


def test_both_stages_must_be_measured():
    meter = CostMeter("cpu", energy=False)
    with meter.stage("fit"):
        pass
    with pytest.raises(RuntimeError, match="recommend"):
        meter.cost()
    with pytest.raises(ValueError, match="unknown stage"):
        with meter.stage("predict"):
            pass


def test_gpu_peak_is_reset_and_read_per_stage_on_cuda(monkeypatch):
    import torch

    state = {"peak": 0, "resets": []}

    def reset(device):
        state["resets"].append(device)
        state["peak"] = 0

    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", reset)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: state["peak"])
    meter = CostMeter("cuda:0", energy=False)
    with meter.stage("fit"):
        state["peak"] = 300 * 2**20
    with meter.stage("recommend"):
        state["peak"] = max(state["peak"], 20 * 2**20)
    cost = meter.cost()
    assert state["resets"] == ["cuda:0", "cuda:0"]
    assert (cost.fit.gpu_peak_mib, cost.recommend.gpu_peak_mib) == (300, 20)
    cpu = CostMeter("cpu", energy=False)
    with cpu.stage("fit"):
        pass
    assert state["resets"] == ["cuda:0", "cuda:0"]  # no CUDA call on a CPU cell


def busy(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_energy_is_estimated_offline_silently_and_writes_nothing(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(COUNTRY_VARIABLE, raising=False)
    meter = CostMeter("cpu")
    with meter.stage("fit"):
        busy(0.4)
    with meter.stage("recommend"):
        time.sleep(0.4)
    cost = meter.cost()
    assert capfd.readouterr() == ("", "")  # CodeCarbon logs to stderr by default
    assert list(tmp_path.iterdir()) == []  # no emissions.csv, no lock file
    setup = cost.energy
    assert setup is not None and setup.error is None and setup.tool.startswith("codecarbon")
    assert setup.tracking_mode == "process"
    assert setup.cpu_power in ("RAPL", "TDP x CPU share")
    if setup.cpu_power != "RAPL":  # this VM: the record says it is an estimate and from what
        assert setup.cpu_tdp_w > 0 and "estimate" in setup.note and "RAPL" in setup.note
    for stage in (cost.fit, cost.recommend):
        assert stage.energy_wh == pytest.approx(stage.cpu_energy_wh + stage.ram_energy_wh + stage.gpu_energy_wh)
        assert stage.co2e_g == pytest.approx(stage.energy_wh * setup.carbon_intensity_g_per_kwh / 1000, rel=1e-6)
    # process mode: CPU energy follows the cell's own CPU time (a sleeping stage uses next to none)
    assert cost.fit.cpu_energy_wh > 0 and cost.fit.cpu_energy_wh > 3 * cost.recommend.cpu_energy_wh
    assert cost.energy_wh == pytest.approx(cost.fit.energy_wh + cost.recommend.energy_wh)
    # no country configured: CodeCarbon's world average
    from codecarbon.input import DataSource

    assert setup.country_iso_code is None and "world average" in setup.note
    world = DataSource().get_carbon_intensity_per_source_data()["world_average"]
    assert setup.carbon_intensity_g_per_kwh == pytest.approx(world, rel=1e-6)


def test_country_comes_from_codecarbons_setting_and_is_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(COUNTRY_VARIABLE, raising=False)
    assert set_country("fra") == "FRA"
    import os

    assert os.environ[COUNTRY_VARIABLE] == "FRA" and check_energy_settings() == "FRA"
    meter = CostMeter("cpu")
    for stage in ("fit", "recommend"):
        with meter.stage(stage):
            busy(0.05)
    setup = meter.cost().energy
    from codecarbon.input import DataSource

    france = DataSource().get_global_energy_mix_data()["FRA"]["carbon_intensity"]
    assert setup.country_iso_code == "FRA" and setup.carbon_intensity_g_per_kwh == pytest.approx(france, rel=1e-6)
    with pytest.raises(InputError, match="--country: 'XYZ' is not a country"):
        set_country("xyz")
    monkeypatch.setenv(COUNTRY_VARIABLE, "Atlantis")
    with pytest.raises(InputError, match=f"{COUNTRY_VARIABLE}.*'ATLANTIS'"):
        check_energy_settings()


def test_a_codecarbon_failure_costs_the_energy_not_the_cell(monkeypatch):
    import codecarbon

    class Broken:
        def __init__(self, **_):
            pass

        def start(self):
            raise OSError("no /proc here\nsecond line")

    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", Broken)
    meter = CostMeter("cpu")
    for stage in ("fit", "recommend"):
        with meter.stage(stage):
            transient_allocation(20, 0.01)
    cost = meter.cost()
    assert cost.energy.error == "CodeCarbon could not start: OSError: no /proc here"
    assert cost.fit.energy_wh is None and cost.energy_wh is None and cost.co2e_g is None
    assert cost.fit.peak_rss_mib > 0


CONFIG = """
name: c
datasets:
  - {name: hm, source: hm, raw: %(raw)s}
models:
  - {model: pop}
  - {model: itemknn}
seeds: [0, 1]
metrics: [ndcg]
ks: [2]
"""


def test_cells_carry_their_cost_and_costs_csv_has_one_row_per_cell(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG % {"raw": RAW})
    out = tmp_path / "out"
    run = run_benchmark(load_config(path), out)
    records = [read_cell(out / "cells" / f"{c.key}.json") for c in run.cells]
    assert all(r.cost is not None and r.cost.energy is not None for r in records)
    costs = pl.read_csv(out / "costs.csv", schema=COSTS_CSV_SCHEMA)
    assert costs.height == 4 and list(costs.columns) == list(COSTS_CSV_SCHEMA)
    by_cell = {(r.label, r.seed): r for r in records}
    for row in costs.iter_rows(named=True):
        record = by_cell[(row["label"], row["seed"])]
        assert row["fit_seconds"] == record.fit_seconds
        assert row["fit_peak_rss_mib"] == record.cost.fit.peak_rss_mib
        assert row["energy_wh"] == pytest.approx(record.cost.fit.energy_wh + record.cost.recommend.energy_wh)
    # scores and costs stay apart: metrics.csv has no cost rows
    assert not set(pl.read_csv(out / "metrics.csv")["metric"]) & {"energy_wh", "fit_seconds", "peak_rss_mib"}


def test_a_record_written_before_costs_still_reads(tmp_path):
    record = {"dataset": "d", "protocol": "loo", "model": "pop", "model_name": "pop", "summary": {"ndcg@10": 0.1}}
    (tmp_path / "old.json").write_text(json.dumps(record))
    assert read_cell(tmp_path / "old.json").cost is None

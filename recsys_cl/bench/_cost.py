"""What a cell costs beyond its seconds: peak memory and an energy estimate, per stage (fit, recommend).

Memory is the process's peak resident set size (RSS) during each stage, with the RSS at the stage's start
beside it: the difference is what the model itself needed; the peak is what a machine must hold. The
lifetime peak (``getrusage``) cannot tell stages or cells apart, so on Linux the kernel's high-water
mark (VmHWM) is reset at each stage's start (``/proc/self/clear_refs``) and read at its end: exact,
however short the spike. Where that is not possible a thread polls RSS every few milliseconds
(``sampled``: a spike shorter than the interval can be missed). Both see the whole process (threads
included) and no child processes; ``getrusage``'s ``ru_maxrss`` afterwards counts from the last reset.

GPU memory: ``torch.cuda.max_memory_allocated``, reset per stage, when the cell runs on CUDA.

Energy: CodeCarbon's ``OfflineEmissionsTracker`` (no network), one per stage, in ``process`` mode (the
cell's own CPU time: the machine is shared, so its total load is not the cell's). Without RAPL counters
(VMs, most clouds) CodeCarbon estimates CPU power as a TDP times the process's CPU share, and RAM power
as a constant; the record says which it did (:class:`~recsys_cl.reporting._records.EnergySetup`).
CO2e uses the grid carbon intensity of CodeCarbon's configured country (``CODECARBON_COUNTRY_ISO_CODE``
or ``.codecarbon.config``; ``bench --country`` sets it), else its world average. CodeCarbon never
prints here and writes no file.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterator

from recsys_cl.errors import InputError
from recsys_cl.reporting import CellCost, EnergySetup, StageCost

MIB = 2**20
STAGES = ("fit", "recommend")
#: the polling interval of the ``sampled`` memory method (seconds)
SAMPLE_SECONDS = 0.005
#: the environment variable CodeCarbon reads its country from (its own configuration)
COUNTRY_VARIABLE = "CODECARBON_COUNTRY_ISO_CODE"
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


class CostMeter:
    """Measures the stages of one cell: ``with meter.stage("fit"): model.fit(...)``, then :meth:`cost`.

    ``device`` is the cell's resolved torch device (GPU memory is read on ``cuda``); ``energy=False``
    leaves CodeCarbon out (no energy figures).
    """

    def __init__(self, device: str = "cpu", *, energy: bool = True, memory_method: str | None = None) -> None:
        self.device = device
        self.energy = energy
        if memory_method not in (None, "vmhwm", "sampled"):
            raise ValueError(f"unknown memory method {memory_method!r}; expected vmhwm or sampled")
        self.memory_method = memory_method or ("vmhwm" if _high_water_mark_resettable() else "sampled")
        self._stages: dict[str, StageCost] = {}
        self._setup: EnergySetup | None = None

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}; expected one of {STAGES}")
        gpu = _CudaPeak(self.device)
        energy = _StageEnergy() if self.energy else None
        peak = _HighWaterMark() if self.memory_method == "vmhwm" else _SampledPeak()
        gpu.start()
        if energy is not None:
            energy.start()
        peak.start()
        try:
            yield
        finally:
            before_mib, peak_mib = peak.stop()
            figures = energy.stop() if energy is not None else {}
            if energy is not None and self._setup is None:
                self._setup = energy.setup
            self._stages[name] = StageCost(rss_before_mib=before_mib, peak_rss_mib=peak_mib, gpu_peak_mib=gpu.stop(), **figures)

    def cost(self) -> CellCost:
        """The cell's cost; both stages must have been measured."""
        missing = [s for s in STAGES if s not in self._stages]
        if missing:
            raise RuntimeError(f"stage {missing[0]!r} was not measured")
        return CellCost(memory_method=self.memory_method, fit=self._stages["fit"], recommend=self._stages["recommend"],
                        energy=self._setup)  # fmt: skip


# ---------------------------------------------------------------------------------------------- memory
def _high_water_mark_resettable() -> bool:
    """Linux lets a process reset its own VmHWM (``echo 5 > /proc/self/clear_refs``, kernel >= 4.0)."""
    try:
        _CLEAR_REFS.write_text("5")
        return _status_kib("VmHWM") is not None
    except OSError:
        return False


def _status_kib(field: str) -> int | None:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])  # "VmHWM:   812860 kB"
    return None


class _HighWaterMark:
    """Exact per-stage peak RSS from the kernel: reset VmHWM to the current RSS, read it at the end."""

    def start(self) -> None:
        _CLEAR_REFS.write_text("5")
        self._before = (_status_kib("VmRSS") or 0) / 1024

    def stop(self) -> tuple[float, float]:
        return self._before, max(self._before, (_status_kib("VmHWM") or 0) / 1024)


class _SampledPeak:
    """Peak RSS polled by a thread every :data:`SAMPLE_SECONDS` (where VmHWM cannot be reset)."""

    def start(self) -> None:
        import psutil

        self._process = psutil.Process()
        self._before = self._process.memory_info().rss / MIB
        self._peak = self._before
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="cost-rss-sampler", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            self._peak = max(self._peak, self._process.memory_info().rss / MIB)

    def stop(self) -> tuple[float, float]:
        self._done.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss / MIB)
        return self._before, self._peak


class _CudaPeak:
    """``max_memory_allocated`` over one stage on a CUDA device (None elsewhere)."""

    def __init__(self, device: str) -> None:
        self.device = device if device.startswith("cuda") else None

    def start(self) -> None:
        if self.device is not None:
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)

    def stop(self) -> float | None:
        if self.device is None:
            return None
        import torch

        return torch.cuda.max_memory_allocated(self.device) / MIB


# ---------------------------------------------------------------------------------------------- energy
class _DropAll(logging.Filter):
    """CodeCarbon logs to stderr through its own handler; the library never prints, so its records stop here
    (what a reader needs from them, the fallbacks it took, is in the record's EnergySetup)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


_MUTE = _DropAll()


def _mute_codecarbon() -> None:
    logger = logging.getLogger("codecarbon")
    if _MUTE not in logger.filters:
        logger.addFilter(_MUTE)


def configured_country() -> str | None:
    """The country CodeCarbon is configured with (its environment variable or config file), or None."""
    _mute_codecarbon()
    from codecarbon.core.config import get_hierarchical_config

    value = get_hierarchical_config().get("country_iso_code")
    return str(value).strip().upper() if value else None


def check_country(code: str | None, where: str) -> str | None:
    """``code`` upper-cased if CodeCarbon has a grid carbon intensity for it; else an InputError naming ``where``."""
    if not code:
        return None
    _mute_codecarbon()
    from codecarbon.input import DataSource

    code = code.strip().upper()
    if code not in DataSource().get_global_energy_mix_data():
        raise InputError(f"{where}: {code!r} is not a country CodeCarbon knows (a 3-letter ISO code such as USA, FRA, DEU)")
    return code


def check_energy_settings() -> str | None:
    """Before a run: CodeCarbon is importable and its configured country is one it knows; returns the country."""
    try:
        import codecarbon  # noqa: F401
    except ImportError:
        raise InputError("energy estimates need CodeCarbon: pip install codecarbon") from None
    return check_country(configured_country(), f"{COUNTRY_VARIABLE} / .codecarbon.config country_iso_code")


class _StageEnergy:
    """One OfflineEmissionsTracker around one stage. A CodeCarbon failure costs the energy figures, never
    the cell: the setup's ``error`` says why they are missing."""

    def __init__(self) -> None:
        self.setup: EnergySetup | None = None
        self._tracker: Any = None

    def start(self) -> None:
        _mute_codecarbon()
        try:
            from codecarbon import OfflineEmissionsTracker

            # output_methods=[]: no emissions.csv, no API; allow_multiple_runs: no lock file shared with
            # other users of the machine (and parallel cells); process mode: see the module docstring
            self._tracker = OfflineEmissionsTracker(
                project_name="recsys-cl", output_methods=[], log_level="error", tracking_mode="process",
                allow_multiple_runs=True,
            )  # fmt: skip
            self._tracker.start()
        except Exception as exc:  # noqa: BLE001 - any CodeCarbon failure: the cell goes on without energy
            self._tracker = None
            self.setup = EnergySetup(error=f"CodeCarbon could not start: {_one_line(exc)}")

    def stop(self) -> dict[str, float | None]:
        if self._tracker is None:
            return {}
        try:
            self._tracker.stop()
            data = self._tracker.final_emissions_data
            self.setup = _describe_setup(self._tracker, data)
        except Exception as exc:  # noqa: BLE001
            self.setup = EnergySetup(error=f"CodeCarbon failed: {_one_line(exc)}")
            return {}
        wh = 1000.0  # CodeCarbon reports kWh and kg
        return {
            "energy_wh": data.energy_consumed * wh, "cpu_energy_wh": data.cpu_energy * wh, "ram_energy_wh": data.ram_energy * wh,
            "gpu_energy_wh": data.gpu_energy * wh, "co2e_g": data.emissions * 1000.0,
        }  # fmt: skip


def _describe_setup(tracker: Any, data: Any) -> EnergySetup:
    """What CodeCarbon did, from its tracker (hardware objects: private attributes, read defensively)."""
    cpu = next((h for h in getattr(tracker, "_hardware", []) if type(h).__name__ == "CPU"), None)
    mode = getattr(cpu, "_mode", None)
    tdp = getattr(cpu, "_tdp", None)
    gpu = next((h for h in getattr(tracker, "_hardware", []) if type(h).__name__ == "GPU"), None)
    country = data.country_iso_code or None
    intensity = data.emissions / data.energy_consumed * 1e3 if data.energy_consumed else None  # kg/kWh -> g/kWh
    if mode in ("intel_rapl", "windows_emi"):
        cpu_power, note = "RAPL", "CPU energy from the processor's RAPL counters"
    else:
        cpu_power = "TDP x CPU share"
        why = "no RAPL counters readable" if not _rapl_available() else f"CodeCarbon chose {mode!r}"
        known = _tdp_known(data.cpu_model)
        source = {True: "from CodeCarbon's CPU table", False: "CodeCarbon's default per thread: model not in its table",
                  None: "source unknown"}[known]  # fmt: skip
        note = (f"estimate, {why}: CPU power = {tdp} W ({source}) x this process's share of CPU time")
    note += f"; RAM {data.ram_power:.1f} W (CodeCarbon's estimate)"
    note += f"; CO2e at {intensity:.0f} g/kWh" if intensity is not None else ""
    note += f" ({data.country_name or country})" if country else " (CodeCarbon's world average)"
    return EnergySetup(
        tool=f"codecarbon {data.codecarbon_version} (offline)", tracking_mode=data.tracking_mode, cpu_power=cpu_power,
        cpu_model=data.cpu_model or None, cpu_tdp_w=float(tdp) if tdp is not None and cpu_power != "RAPL" else None,
        ram_power_w=float(data.ram_power), gpu_power="pynvml" if gpu is not None else None, country_iso_code=country,
        carbon_intensity_g_per_kwh=intensity, note=note,
    )  # fmt: skip


@functools.lru_cache(maxsize=None)  # reads CodeCarbon's CPU table (~0.1 s): once per process
def _tdp_known(cpu_model: str | None) -> bool | None:
    """Whether CodeCarbon's TDP table has ``cpu_model`` (else it assumes a default power per thread)."""
    if not cpu_model:
        return False
    try:
        from codecarbon.core.cpu import TDP

        return TDP()._get_cpu_power_from_registry(cpu_model) is not None
    except Exception:  # noqa: BLE001 - a private helper of CodeCarbon's: unknown if it changed
        return None


@functools.lru_cache(maxsize=None)
def _rapl_available() -> bool:
    from codecarbon.core.cpu import is_rapl_available

    return bool(is_rapl_available())


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def set_country(code: str | None) -> str | None:
    """Point CodeCarbon at ``code`` (checked) for this process and the workers it starts (they inherit it)."""
    code = check_country(code, "--country")
    if code:
        os.environ[COUNTRY_VARIABLE] = code
    return code

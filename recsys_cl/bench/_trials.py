"""The trials of one study: what a process needs to run them (:class:`StudyJob`), the seeded samplers, the
objective (fit on train, score on valid), and the loop that asks, runs and tells until a quota is finished."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping

from recsys_cl.bench._config import TuningSpec
from recsys_cl.bench._storage import INTERRUPTED, STALE, open_storage
from recsys_cl.data import load_dataset
from recsys_cl.errors import InputError, ModelDiverged
from recsys_cl.progress import StageProgress

if TYPE_CHECKING:
    import optuna

    from recsys_cl.data import EncodedSplit
    from recsys_cl.embeddings import ItemEmbeddings


@dataclasses.dataclass(frozen=True)
class StudyJob:
    """Everything a process needs to run trials of one study (picklable: it travels to Ray workers)."""

    study_name: str
    storage: str  # journal file path or RDB URL
    dataset_dir: str
    protocol: str
    model: str
    base_params: dict[str, Any]
    trial_params: dict[str, Any]  # seed, device, validation knobs: set on every trial, never searched
    space: dict[str, dict[str, Any]]
    embedding_path: str | list[str] | None
    tuning: dict[str, Any]
    grid: dict[str, list[Any]] | None
    exclude_seen: bool
    #: names of the modalities when ``embedding_path`` lists several files
    embedding_names: tuple[str, ...] = ()


def configured_not_tried(study: "optuna.Study") -> bool:
    """Whether the study still owes its configured trial (trial 0 of a new study): none is enqueued, finished,
    or failed by its own error. A configured trial that failed only because its run stopped (interrupted, or
    killed: its node lost included) is enqueued again, so a resumed study tries what an uninterrupted one does."""
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("configured") and not stopped_by_its_run(trial):
            return False
    return True


def stopped_by_its_run(trial: Any) -> bool:
    """A trial that failed because its run stopped (not by its own error)."""
    from optuna.trial import TrialState

    return trial.state == TrialState.FAIL and trial.user_attrs.get("error") in (STALE, INTERRUPTED)


def enqueue_configured(study: "optuna.Study", job: StudyJob) -> None:
    """Trial 0 of a new study: the parameters the config gives the model (its defaults where it sets none),
    for each searched parameter whose value lies in the space. The search then never ends below the
    untuned model on the valid part, and the report's default-vs-tuned comparison starts from the same
    point; it counts against the budget like any other trial."""
    from recsys_cl.models import MODELS

    configured = {**MODELS.get(job.model).Config().model_dump(), **job.base_params}
    fixed = {}
    for name, distribution in _distributions(job.space).items():
        value = configured.get(name)
        try:
            inside = value is not None and distribution._contains(distribution.to_internal_repr(value))
        except (ValueError, TypeError):
            inside = False
        if inside:
            fixed[name] = value
    if fixed:
        study.enqueue_trial(fixed, user_attrs={"configured": True})


def _sampler(tuning: TuningSpec | Mapping[str, Any], grid: Mapping[str, list[Any]] | None, stream: int, finished: int,
             failed: int = 0):  # fmt: skip
    """A sampler seeded for the next trial from (seed, stream, trials finished so far, trials failed by their
    own error): TPE and the random sampler hold no state but their generator, so re-seeding per trial makes
    a resumed study draw what an uninterrupted one would (``stream`` tells Ray workers apart). A trial
    stopped by its run is drawn again as it was; one that failed by itself (diverged) is not, or its
    replacement would draw the same parameters and fail the same way until the study gives up."""
    import numpy as np
    import optuna

    values = tuning if isinstance(tuning, Mapping) else tuning.model_dump()
    if values["sampler"] == "grid":
        assert grid is not None
        # The grid sampler orders its points by a shuffle of its seed and gives trial n the n-th point: a
        # seed per trial would shuffle differently each time and visit points twice.
        return _grid_sampler_class()(dict(grid), seed=values["seed"])
    entropy = [values["seed"], stream, finished] + ([failed] if failed else [])  # no failure: the seeds as before
    seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
    if values["sampler"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _grid_sampler_class() -> type:
    """Made on first use: optuna is imported only when tuning runs."""
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        """Optuna's grid sampler without its ``study.stop()`` once every point is visited: that only
        works inside ``Study.optimize``, and the budget here is already capped at the grid's size."""

        def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001
            return None

    return GridSampler


def pruner(tuning: TuningSpec | Mapping[str, Any]):
    import optuna

    values = tuning if isinstance(tuning, Mapping) else tuning.model_dump()
    if values["pruner"] != "median":
        return optuna.pruners.NopPruner()
    # epochs are the steps trials report (bench._trials._objective), so the warmup counts epochs
    return optuna.pruners.MedianPruner(n_warmup_steps=int(values.get("pruner_warmup", 0)))


def _distributions(space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "int":
            out[name] = IntDistribution(int(spec["low"]), int(spec["high"]), step=int(spec["step"] or 1))
        elif kind == "float":
            out[name] = FloatDistribution(float(spec["low"]), float(spec["high"]), step=spec["step"])
        elif kind == "log_float":
            out[name] = FloatDistribution(float(spec["low"]), float(spec["high"]), log=True)
        else:
            out[name] = CategoricalDistribution(spec["choices"])
    return out


@dataclasses.dataclass
class TrialContext:
    """The data a process fits trials on, loaded once: the split without its test part, embeddings."""

    encoded: "EncodedSplit"
    embeddings: "ItemEmbeddings | None"

    @classmethod
    def open(cls, job: StudyJob) -> "TrialContext":
        from recsys_cl.embeddings import read_itememb

        encoded = load_dataset(job.dataset_dir).tuning_encoded(job.protocol)
        if not job.embedding_path:
            return cls(encoded, None)
        if isinstance(job.embedding_path, str):
            return cls(encoded, read_itememb(job.embedding_path))
        return cls(encoded, {name: read_itememb(path, name) for name, path in zip(job.embedding_names, job.embedding_path)})  # type: ignore[arg-type]


def run_trials(study, job: StudyJob, context: TrialContext, quota: int, deadline: float | None,
                report: Callable[["optuna.Study"], None], stream: int) -> str:  # fmt: skip
    """Run trials until ``quota`` of them have finished (completed or pruned) here; returns why it stopped.

    A trial that raises is recorded as failed and replaced; bad input (:class:`InputError`) and more
    failures than the quota stop the study with the error.
    """
    import optuna
    from optuna.trial import TrialState

    distributions = _distributions(job.space)
    finished = failed = 0
    while finished < quota:
        if deadline is not None and time.time() >= deadline:
            return "timeout"
        study.sampler = _sampler(job.tuning, job.grid, stream, finished_count(study), own_failures(study))
        trial = study.ask(distributions)
        try:
            value = _objective(trial, job, context)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            finished += 1
        except Exception as exc:
            # bad input stops the study; a trial's own failure (NaN scores from a diverged fit, ...) is recorded
            # and replaced: its sampled parameters, not the user's input, made it fail
            if isinstance(exc, InputError) and not isinstance(exc, ModelDiverged):
                study.tell(trial, state=TrialState.FAIL)
                raise
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            study.tell(trial, state=TrialState.FAIL)
            failed += 1
            if failed > quota:
                raise RuntimeError(f"study {job.study_name}: {failed} trials failed; last: {type(exc).__name__}: {exc}") from exc
        except BaseException:  # interrupted: the trial did not finish, and must not stay RUNNING
            trial.set_user_attr("error", INTERRUPTED)
            study.tell(trial, state=TrialState.FAIL)
            raise
        else:
            if math.isfinite(value):
                study.tell(trial, value)
                finished += 1
            else:
                trial.set_user_attr("error", f"objective is {value}")
                study.tell(trial, state=TrialState.FAIL)
                failed += 1
        report(study)
    return "budget"


def _objective(trial: "optuna.Trial", job: StudyJob, context: TrialContext) -> float:
    """Fit with the trial's parameters on train, then score ``metric`` on valid; per-epoch validation
    scores go to the pruner, which may stop the fit (``optuna.TrialPruned``)."""
    import optuna

    from recsys_cl.evaluation import evaluate
    from recsys_cl.models import create

    metric = job.tuning["metric"]
    name, _, k = metric.partition("@")
    model = create(job.model, **{**job.base_params, **trial.params, **job.trial_params})

    def on_epoch(epoch: int, score: float) -> None:
        trial.report(score, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"epoch {epoch}: {metric} {score:.4f}")

    encoded = context.encoded
    try:  # per-epoch validation ranks as the final ranking will (exclude_seen)
        model.fit(encoded, context.embeddings, on_epoch=on_epoch if job.tuning["pruner"] != "none" else None,
                  exclude_seen=job.exclude_seen)
    finally:  # one storage write: a pruned fit has epochs but no fit time
        trial.set_user_attr("fit", {"epochs_run": model.history.epochs_run, "best_epoch": model.history.best_epoch,
                                    "fit_seconds": model.fit_seconds, "valid_metric": model.history.valid_metric})
    rankings = model.recommend(encoded.user_ids[encoded.eval_users("valid")], k=int(k), exclude_seen=job.exclude_seen)
    # scored as a cell scores its test part: in the protocol's mode (exclude_seen)
    scored = evaluate(rankings, encoded, part="valid", metrics=[name], ks=[int(k)], exclude_seen=job.exclude_seen)
    return float(scored.summary[metric])


def finished_count(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def own_failures(study) -> int:
    """Failed trials that failed by their own error, not because their run stopped."""
    from optuna.trial import TrialState

    return sum(not stopped_by_its_run(t) for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))


def progress_reporter(progress: StageProgress | None, metric: str, budget: int) -> Callable[["optuna.Study"], None]:
    from optuna.trial import TrialState

    def report(study) -> None:
        if progress is None:
            return
        trials = study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        values = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        pruned = sum(t.state == TrialState.PRUNED for t in trials)
        best = f"best {metric} {max(values):.4f}" if values else "no trial completed"
        progress(f"trial {len(done)}/{budget}, {best}, {pruned} pruned", len(done), budget)

    return report

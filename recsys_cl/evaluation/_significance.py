"""Paired significance tests over per-user scores: every model against one baseline.

For each model and metric (higher is better for every metric here):

* paired t-test (``scipy.stats.ttest_rel``), Wilcoxon signed-rank (``scipy.stats.wilcoxon``,
  zero differences dropped, the Wilcox convention) and a paired randomisation test
  (``scipy.stats.permutation_test`` with ``permutation_type="samples"``: the sign of each user's
  difference is flipped at random; seeded);
* Holm's step-down correction across the comparisons (all models vs the baseline, one metric,
  one test at a time). SciPy's ``false_discovery_control`` only does Benjamini-Hochberg/Yekutieli
  and statsmodels is not a dependency, so Holm's few lines are written here;
* effect size: Cohen's d for paired samples, ``d_z = mean(diff) / sd(diff)`` (ddof 1);
* bootstrap 95% confidence intervals (``scipy.stats.bootstrap``, percentile method: BCa needs a
  jackknife over every user, quadratic in the number of users) for each mean and for the mean
  difference.

The alternative is two-sided by default; ``direction`` says which way the difference goes
(``higher`` = the model beats the baseline), so a significant two-sided result is read with it.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import polars as pl
from scipy import stats

from recsys_cl.errors import InputError

ALTERNATIVES = ("two-sided", "greater", "less")


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values (same order as given): ``max_{j<=i} min(1, (m - j + 1) p_(j))`` over the sorted p's.

    NaN p-values (a test that could not be run) stay NaN and do not count towards ``m``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(p[idx], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def cohens_d_paired(x: np.ndarray, y: np.ndarray) -> float:
    """Cohen's d_z for paired samples: mean(x - y) / sd(x - y); 0 when all differences are 0, +-inf when constant."""
    d = np.asarray(x, np.float64) - np.asarray(y, np.float64)
    if len(d) < 2:
        return float("nan")
    sd = d.std(ddof=1)
    mean = d.mean()
    if sd == 0:
        return 0.0 if mean == 0 else float(np.sign(mean) * np.inf)
    return float(mean / sd)


def bootstrap_ci(x: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``x`` (scipy.stats.bootstrap, seeded)."""
    x = np.asarray(x, np.float64)
    if len(x) < 2 or np.all(x == x[0]):
        v = float(x[0]) if len(x) else float("nan")
        return v, v
    batch = max(1, int(2e7 // len(x)))  # bounds memory at ~160 MB of resampled values
    res = stats.bootstrap(
        (x,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
        batch=batch, random_state=np.random.default_rng(seed), vectorized=True,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def sign_flip_pvalue(d: np.ndarray, *, alternative: str = "two-sided", n_resamples: int = 10_000, seed: int = 0) -> float:
    """Paired randomisation test of mean(d) = 0: each user's difference keeps or flips its sign.

    Exact (all 2^n sign vectors) when 2^n <= ``n_resamples``, else a seeded Monte Carlo with the
    (count + 1) / (n_resamples + 1) estimate; two-sided is twice the smaller one-sided p, capped at 1
    (scipy.stats.permutation_test's conventions and tolerance). Written here because
    permutation_test's general resampling machinery took ~0.16 s per test for the report's few
    thousand users (36 s for the quickstart report), while sign flips are one matrix product.
    """
    d = np.asarray(d, np.float64)
    n = len(d)
    observed = d.mean()
    tolerance = abs(observed) * 1e-14  # relative slack, so floating-point ties count as ties
    exact = n < 63 and 2**n <= n_resamples
    total = 2**n if exact else n_resamples
    rng = np.random.default_rng(seed)
    batch = max(1, int(1e7 // max(n, 1)))  # bounds each sign block at ~80 MB
    at_least = at_most = 0
    for start in range(0, total, batch):
        rows = min(batch, total - start)
        if exact:
            codes = np.arange(start, start + rows, dtype=np.int64)[:, None]
            signs = 1.0 - 2.0 * ((codes >> np.arange(n, dtype=np.int64)) & 1)
        else:
            signs = 1.0 - 2.0 * rng.integers(0, 2, size=(rows, n), dtype=np.int8)
        null = signs @ d / n
        at_least += int((null >= observed - tolerance).sum())
        at_most += int((null <= observed + tolerance).sum())
    if exact:
        p_greater, p_less = at_least / total, at_most / total
    else:
        p_greater, p_less = (at_least + 1) / (total + 1), (at_most + 1) / (total + 1)
    if alternative == "greater":
        return float(p_greater)
    if alternative == "less":
        return float(p_less)
    return float(min(1.0, 2 * min(p_greater, p_less)))


def paired_tests(
    x: np.ndarray,
    y: np.ndarray,
    *,
    alternative: str = "two-sided",
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, float]:
    """p-values of the three paired tests of ``x`` (model) vs ``y`` (baseline), same users in the same order."""
    if alternative not in ALTERNATIVES:
        raise InputError(f"alternative must be one of {', '.join(ALTERNATIVES)} (got {alternative!r})")
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise InputError(f"paired tests need two equal-length 1-d arrays (got {x.shape} and {y.shape})")
    d = x - y
    out = {"t_stat": float("nan"), "p_t": float("nan"), "p_wilcoxon": float("nan"), "p_randomisation": float("nan")}
    if len(d) < 2:
        return out
    if np.all(d == 0):
        # identical scores: no evidence of any difference (scipy would return NaN or raise)
        return {"t_stat": 0.0, "p_t": 1.0, "p_wilcoxon": 1.0, "p_randomisation": 1.0}
    if np.all(d == d[0]):
        # constant non-zero difference: t is infinite; p is 0 one way, 1 the other
        toward = (d[0] > 0 and alternative != "less") or (d[0] < 0 and alternative != "greater")
        out["t_stat"] = float(np.sign(d[0]) * np.inf)
        out["p_t"] = 0.0 if toward else 1.0
    else:
        t = stats.ttest_rel(x, y, alternative=alternative)
        out["t_stat"], out["p_t"] = float(t.statistic), float(t.pvalue)
    out["p_wilcoxon"] = float(stats.wilcoxon(d, zero_method="wilcox", alternative=alternative).pvalue)
    out["p_randomisation"] = sign_flip_pvalue(d, alternative=alternative, n_resamples=n_resamples, seed=seed)
    return out


def paired_family(pairs: Sequence[tuple[np.ndarray, np.ndarray]], *, n_resamples: int = 10_000, seed: int = 0) -> list[tuple[float, float]]:
    """One family of paired comparisons, each ``x`` against its ``y`` (same users in the same order): per pair
    the mean difference and the Holm-adjusted randomisation p over the family (NaN for a pair of unequal
    lengths, which is not tested). Every pair resamples from the same stream (common random numbers), so two
    pairs with the same differences get the same p-value, as in :func:`compare_to_baseline`."""
    found = []
    for x, y in pairs:
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if len(x) != len(y):
            found.append((float("nan"), float("nan")))
            continue
        found.append((float(np.mean(x - y)) if len(x) else float("nan"),
                      paired_tests(x, y, n_resamples=n_resamples, seed=seed)["p_randomisation"]))  # fmt: skip
    return [(diff, float(p)) for (diff, _), p in zip(found, holm([p for _, p in found]))]


def compare_to_baseline(
    scores: Mapping[str, Mapping[str, np.ndarray]],
    baseline: str,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    n_resamples: int = 10_000,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pl.DataFrame:
    """Every model vs ``baseline`` on every metric: ``scores[model][metric]`` = per-user values (same users, same order).

    One row per (model, metric), the baseline included (its tests are NaN): means with bootstrap
    CIs, the difference with its CI, direction, Cohen's d_z, raw and Holm-adjusted p-values of the
    three tests, and ``significant`` = Holm-adjusted randomisation p < ``alpha``.
    """
    if baseline not in scores:
        raise InputError(f"baseline {baseline!r} not among the models: {', '.join(scores)}")
    metrics = list(scores[baseline])
    n = None
    for model, per_metric in scores.items():
        for metric in metrics:
            if metric not in per_metric:
                raise InputError(f"model {model!r} has no per-user scores for {metric!r}")
            if n is None:
                n = len(per_metric[metric])
            if len(per_metric[metric]) != n:
                raise InputError(
                    f"model {model!r}, {metric}: {len(per_metric[metric])} users, baseline has {n}; "
                    "paired tests need the same users"
                )
    rows = []
    for m_i, metric in enumerate(metrics):
        base = np.asarray(scores[baseline][metric], np.float64)
        block = []
        for model, per_metric in scores.items():
            x = np.asarray(per_metric[metric], np.float64)
            # one stream per metric, shared by every model (common random numbers): two models with the same
            # per-user scores get the same intervals and p-values, so Holm cannot mark one and not the other
            s = seed + 1009 * m_i
            low, high = bootstrap_ci(x, confidence=confidence, n_resamples=n_bootstrap, seed=s)
            row = {
                "model": model, "metric": metric, "n_users": len(x), "mean": float(x.mean()) if len(x) else float("nan"),
                "ci_low": low, "ci_high": high, "baseline": baseline,
                "baseline_mean": float(base.mean()) if len(base) else float("nan"),
            }
            diff = x - base
            row["diff"] = float(diff.mean()) if len(diff) else float("nan")
            row["diff_ci_low"], row["diff_ci_high"] = bootstrap_ci(diff, confidence=confidence, n_resamples=n_bootstrap, seed=s)
            row["direction"] = "higher" if row["diff"] > 0 else "lower" if row["diff"] < 0 else "equal"
            if model == baseline:
                row.update({"cohen_d": float("nan"), "t_stat": float("nan"), "p_t": float("nan"),
                            "p_wilcoxon": float("nan"), "p_randomisation": float("nan")})
            else:
                row["cohen_d"] = cohens_d_paired(x, base)
                row.update(paired_tests(x, base, alternative=alternative, n_resamples=n_resamples, seed=s))
            block.append(row)
        for test in ("p_t", "p_wilcoxon", "p_randomisation"):
            adjusted = holm([r[test] for r in block])
            for r, a in zip(block, adjusted):
                r[f"{test}_holm"] = float(a)
        for r in block:
            r["significant"] = bool(r["p_randomisation_holm"] < alpha) if not np.isnan(r["p_randomisation_holm"]) else False
        rows.extend(block)
    return pl.DataFrame(rows)


def compare_results(results: Sequence, baseline: str, metrics: Sequence[str] | None = None, **options) -> pl.DataFrame:
    """:func:`compare_to_baseline` over :class:`EvaluationResult` objects (named by ``.name``), users aligned by id."""
    by_name = {r.name: r for r in results}
    if len(by_name) != len(results):
        raise InputError("two results share a name; give each model's rankings a distinct name")
    if baseline not in by_name:
        raise InputError(f"baseline {baseline!r} not among the results: {', '.join(by_name)}")
    ref = by_name[baseline]
    metrics = list(metrics) if metrics else list(ref.per_user)
    scores: dict[str, dict[str, np.ndarray]] = {}
    for name, res in by_name.items():
        if not np.array_equal(res.user_ids, ref.user_ids):
            raise InputError(f"results {name!r} and {baseline!r} evaluate different users (different splits or parts?)")
        scores[name] = {m: res.values(m) for m in metrics}
    return compare_to_baseline(scores, baseline, **options)

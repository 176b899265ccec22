"""How often the data-drift verdict is wrong: false alarms and detection at every sample size.

    python benchmarks/drift_quality.py [--trials 200] [--big-trials 20] [--max-rows 1000000]

(--big-trials from 100,000 rows, a quarter of them at 1,000,000, where a check takes seconds.)

A simulation with ten features (three normal, two lognormal, three Poisson, one binary, one
with four values), called the way fullprocess.py calls it (config.yaml's drift settings). Each
trial draws a reference and a new sample from the same distributions (the null check), then
redraws one column of the new sample shifted by 0.05, 0.1, 0.2 or 0.3 of its standard deviation:
the normal column (+d), the Poisson column (rate + d * sqrt(rate)) and the binary one (share + d
* its std). Beside ours, the same checks with this project's previous rule (Evidently's default:
p-value tests with a Holm correction up to 1,000 reference rows, distances >= 0.1 beyond) show
what changed. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # a script run from anywhere; the project is not installed
    sys.path.insert(0, str(ROOT))

from utils.monitoring.drift import adjust_p_values, data_drift  # noqa: E402

SHIFTS = (0.05, 0.1, 0.2, 0.3)
POISSON_RATE, BINARY_SHARE = 3.0, 0.2
FEATURES = ["normal", "normal_50_10", "normal_skinny", "lognormal", "lognormal_wide",
            "poisson", "poisson_small", "poisson_20", "binary", "four_values"]  # fmt: skip
SHIFTED = {"normal": "normal", "poisson": "poisson", "binary": "binary"}
# (reference rows, new rows, min_rows or None for config.yaml's)
CELLS = [
    (100, 100, None),
    (300, 300, None),
    (1_000, 1_000, None),
    (1_001, 1_001, None),
    (1_250, 1_250, None),
    (1_400, 400, None),
    (20_000, 1, None),
    (20_000, 1, 1),
    (20_000, 10, None),
    (20_000, 10, 1),
    (20_000, 100, None),
    (20_000, 300, None),
    (10_000, 10_000, None),
    (20_000, 20_000, None),
    (100_000, 100, None),
    (100_000, 100_000, None),
    (1_000_000, 1_000_000, None),
]
BIG = 100_000


def draw(rng: np.random.Generator, rows: int, shift: dict[str, float] | None = None) -> dict:
    """One sample of every feature; ``shift`` moves the named columns by d std."""
    shift = shift or {}

    columns = {
        "normal": lambda d: rng.normal(d, 1.0, rows),
        "normal_50_10": lambda d: rng.normal(50.0, 10.0, rows),
        "normal_skinny": lambda d: rng.normal(0.0, 0.01, rows),
        "lognormal": lambda d: rng.lognormal(0.0, 1.0, rows),
        "lognormal_wide": lambda d: rng.lognormal(2.0, 1.5, rows),
        "poisson": lambda d: rng.poisson(POISSON_RATE + d * math.sqrt(POISSON_RATE), rows),
        "poisson_small": lambda d: rng.poisson(0.5, rows),
        "poisson_20": lambda d: rng.poisson(20.0, rows),
        "binary": lambda d: (
            rng.random(rows) < BINARY_SHARE + d * math.sqrt(BINARY_SHARE * (1 - BINARY_SHARE))
        ).astype(np.int64),
        "four_values": lambda d: rng.choice(4, size=rows, p=[0.4, 0.3, 0.2, 0.1]),
    }
    return {name: make(shift.get(name, 0.0)) for name, make in columns.items()}


def previous_rule(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, bool]:
    """This project's verdicts before: Evidently's default tests and thresholds, with Holm."""
    from scipy import stats
    from scipy.spatial import distance

    small = len(reference) <= 1000
    scores: dict[str, float] = {}
    # scipy's "exact calculation unsuccessful, switching to asymp" at some sizes: its own fallback.
    warnings.simplefilter("ignore", RuntimeWarning)
    for feature in FEATURES:
        ref, cur = reference[feature], current[feature]
        distinct = ref.nunique()
        if distinct > 5:
            scores[feature] = (
                stats.ks_2samp(ref, cur).pvalue
                if small
                else stats.wasserstein_distance(ref, cur) / max(ref.std(ddof=0), 0.001)
            )
            continue
        categories = sorted(set(ref.unique()) | set(cur.unique()))
        ref_counts = ref.value_counts().reindex(categories, fill_value=0).to_numpy(float)
        cur_counts = cur.value_counts().reindex(categories, fill_value=0).to_numpy(float)
        if not small:
            scores[feature] = distance.jensenshannon(
                ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
            )
        elif distinct == 2 and len(categories) == 2:
            n1, n2 = ref_counts.sum(), cur_counts.sum()
            pooled = (ref_counts[1] + cur_counts[1]) / (n1 + n2)
            se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
            z = 0.0 if se == 0 else (ref_counts[1] / n1 - cur_counts[1] / n2) / se
            scores[feature] = 2 * stats.norm.sf(abs(z))
        else:
            scores[feature] = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))[1]
    if not small:
        return {f: bool(s >= 0.1) for f, s in scores.items()}
    adjusted = adjust_p_values([scores[f] for f in FEATURES], "holm")
    return {f: bool(p < 0.05) for f, p in zip(FEATURES, adjusted, strict=True)}


def run_cell(cell: tuple[int, int, int | None], trials: int, seed: int, settings: dict) -> dict:
    """Every trial of one cell: the null check, then each shifted column at each shift (0.05 std
    only from 100,000 rows). The previous rule sees the null check and the 0.2 std shifts."""
    n_ref, n_cur, min_rows = cell
    settings = {**settings, **({"min_rows": min_rows} if min_rows else {})}
    rng = np.random.default_rng([seed, n_ref, n_cur, min_rows or 0])
    shifts = SHIFTS if min(n_ref, n_cur) >= BIG else SHIFTS[1:]
    compare_before = min_rows is None and n_cur >= 2
    counts = {"null_any": 0, "null_dataset": 0, "before_null_any": 0}
    counts.update({f"{name}@{d}": 0 for name in SHIFTED for d in shifts})
    counts.update({f"before_{name}@0.2": 0 for name in SHIFTED})
    for _ in range(trials):
        reference = pd.DataFrame(draw(rng, n_ref))
        current = draw(rng, n_cur)
        result = data_drift(reference, pd.DataFrame(current), FEATURES, **settings)
        counts["null_any"] += any(f.drift for f in result.features)
        counts["null_dataset"] += result.dataset_drift
        if compare_before:
            before = previous_rule(reference, pd.DataFrame(current))
            counts["before_null_any"] += any(before.values())
        for name in SHIFTED:
            for d in shifts:
                shifted = pd.DataFrame({**current, name: draw(rng, n_cur, {name: d})[name]})
                flagged = data_drift(reference, shifted, FEATURES, **settings).features
                counts[f"{name}@{d}"] += next(f.drift for f in flagged if f.feature == name)
                if compare_before and d == 0.2:
                    counts[f"before_{name}@{d}"] += previous_rule(reference, shifted)[name]
    return {"cell": cell, "trials": trials, "compared_before": compare_before, **counts}


def drift_settings() -> dict:
    """config.yaml's drift section, exactly as fullprocess.py passes it to data_drift."""
    from utils.config import load_project_config

    return load_project_config(ROOT).drift.univariate()


def trials_for(cell: tuple[int, int, int | None], args: argparse.Namespace) -> int:
    """``--trials`` under 100,000 rows; ``--big-trials`` from there, a quarter at a million."""
    rows = max(cell[:2])
    if rows < BIG:
        return args.trials
    return args.big_trials if rows < 1_000_000 else max(2, args.big_trials // 4)


def label(cell: tuple[int, int, int | None]) -> str:
    n_ref, n_cur, min_rows = cell
    return f"{n_ref:,} / {n_cur:,}" + (f" (min_rows {min_rows})" if min_rows else "")


def share(result: dict, key: str) -> float:
    return result[key] / result["trials"]


def print_tables(results: list[dict]) -> None:
    print(
        "False alarms: share of checks that flag any of the ten unshifted features ('data set':"
        " that declare data set drift; 'before': the previous rule)"
    )
    print(f"{'reference / new rows':30} {'trials':>6} {'any':>7} {'data set':>9} {'before':>7}")
    for r in results:
        before = f"{share(r, 'before_null_any'):7.1%}" if r["compared_before"] else f"{'-':>7}"
        print(
            f"{label(r['cell']):30} {r['trials']:6d} {share(r, 'null_any'):7.1%} "
            f"{share(r, 'null_dataset'):9.1%} {before}"
        )
    print()
    print("Detection: share of checks that flag the shifted column (previous rule in brackets)")
    columns = [(n, d) for n in SHIFTED for d in SHIFTS[1:]]
    print(f"{'reference / new rows':30}" + "".join(f"{f'{n} {d}':>15}" for n, d in columns))
    for r in results:
        row = []
        for n, d in columns:
            before_key = f"before_{n}@{d}"
            before = (
                f" ({share(r, before_key):.0%})" if r["compared_before"] and before_key in r else ""
            )
            ours = f"{share(r, f'{n}@{d}'):.0%}"
            row.append(f"{ours + before:>15}")
        print(f"{label(r['cell']):30}" + "".join(row))


def summary(results: list[dict], args: argparse.Namespace) -> dict:
    big = [r for r in results if min(r["cell"][:2]) >= BIG and r["cell"][0] == BIG]
    detection_10k = [
        share(r, f"{n}@0.2") for r in results for n in SHIFTED if min(r["cell"][:2]) >= 10_000
    ]
    before = [share(r, "before_null_any") for r in results if r["compared_before"]]
    worst = max(share(r, "null_any") for r in results)
    return {
        "max_familywise_false_alarm": round(worst, 4),
        "min_detection_0_2_sigma_10k": round(min(detection_10k), 4) if detection_10k else None,
        "max_flag_rate_0_05_sigma_100k": (
            round(max(share(r, f"{n}@0.05") for r in big for n in SHIFTED), 4) if big else None
        ),
        "before_max_familywise_false_alarm": round(max(before), 4) if before else None,
        "trials": args.trials,
        "big_trials": args.big_trials,
        "cells": len(results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trials", type=int, default=200, help="trials per cell under 100,000 rows"
    )
    parser.add_argument("--big-trials", type=int, default=20, help="trials per cell from 100,000")
    parser.add_argument("--max-rows", type=int, default=1_000_000, help="largest sample size")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the simulation")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes")
    args = parser.parse_args()

    settings = drift_settings()
    cells = [c for c in CELLS if max(c[:2]) <= args.max_rows]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        # The largest cells first, so that both workers stay busy to the end.
        ordered = sorted(cells, key=lambda c: -max(c[:2]))
        futures = {
            cell: pool.submit(
                run_cell,
                cell,
                trials_for(cell, args),
                args.seed,
                settings,
            )
            for cell in ordered
        }
        results = [futures[cell].result() for cell in cells]
    print(f"drift settings (config.yaml): {settings}")
    print_tables(results)
    print(f"simulated in {time.perf_counter() - started:.0f} s")
    print(json.dumps(summary(results, args)))


if __name__ == "__main__":
    main()

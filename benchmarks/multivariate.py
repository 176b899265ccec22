"""Multivariate drift: ours against NannyML 0.13.1's domain classifier and data reconstruction.

    python benchmarks/multivariate.py [--trials 200] [--nannyml-trials 50] [--large 1000000]

Generated data with ten features of every kind (three normal, the first two correlated 0.8;
lognormal and exponential; two Poisson; two binary; one categorical of four values), the same
rows for both sides (NannyML runs in its own virtualenv, as in benchmarks/estimation.py):

- false alarms with no change at 300/300, 1,000/1,000, 20,000/500 and 100,000/100,000 rows
  (reference/current; ``--trials`` trials a cell, a tenth of them at 100,000);
- detection of a correlation break (0.8 to 0, marginals unchanged) at 2,000/2,000 and of a
  45-degree rotation of the two correlated features at 5,000/5,000;
- the time at ``--large`` reference rows against a tenth as many current rows (median of 3).

NannyML sets its thresholds from the spread of reference chunks, so it is given chunks of a
quarter of the current rows (four reference and four analysis chunks at 2,000/2,000) and
counted as detecting when any analysis chunk alerts; at the 300/300 cell each chunk has 75
rows. The last line is one JSON object: max_false_alarm, power_corr_break_2k,
nannyml_power_corr_break_2k (the better of its two methods), speedup (NannyML's faster
method's seconds at the large size over ours), trials, and every cell.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from generated import ROOT, peer_python

NANNYML_REQUIREMENTS = ["nannyml==0.13.1", "pandas<2.3", "statsmodels"]
FEATURES = ["n1", "n2", "n3", "lognormal", "exponential", "poisson3", "poisson10", "binary30",
            "binary60", "kind"]  # fmt: skip
# The same generator in both processes (ours and NannyML's), so both judge the same rows.
GENERATOR = '''
import numpy as np, pandas as pd

def population(rows, seed, correlation=0.8, rotation=0.0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(rows, 2))
    a = z[:, 0]
    b = correlation * z[:, 0] + np.sqrt(1 - correlation ** 2) * z[:, 1]
    if rotation:
        c, s = np.cos(rotation), np.sin(rotation)
        a, b = c * a - s * b, s * a + c * b
    return pd.DataFrame({
        "n1": a, "n2": b, "n3": rng.normal(5, 2, rows),
        "lognormal": rng.lognormal(0, 1, rows), "exponential": rng.exponential(3, rows),
        "poisson3": rng.poisson(3, rows).astype(float),
        "poisson10": rng.poisson(10, rows).astype(float),
        "binary30": (rng.random(rows) < 0.3).astype(float),
        "binary60": (rng.random(rows) < 0.6).astype(float),
        "kind": rng.choice(["a", "b", "c", "d"], rows, p=[0.4, 0.3, 0.2, 0.1]),
    })

def pair(reference_rows, current_rows, change, trial):
    """The trial's reference and current rows: change is none, corr_break or rotation."""
    reference = population(reference_rows, 2 * trial + 1)
    if change == "corr_break":
        return reference, population(current_rows, 2 * trial + 2, correlation=0.0)
    if change == "rotation":
        return reference, population(current_rows, 2 * trial + 2, rotation=np.pi / 4)
    return reference, population(current_rows, 2 * trial + 2)
'''
NULL_CELLS = [(300, 300), (1000, 1000), (20_000, 500), (100_000, 100_000)]
CHANGE_CELLS = [(2000, 2000, "corr_break"), (5000, 5000, "rotation")]

NANNYML = (
    GENERATOR
    + """
import json, sys, time, warnings, logging
warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)
import nannyml as nml

def alerts(calculator, reference, current):
    calculator.fit(reference)
    result = calculator.calculate(current).filter(period="analysis").to_df()
    columns = [c for c in result.columns if c[-1] == "alert"]
    return bool(result[columns].to_numpy().any())

def calculators(chunk):
    features = list(population(10, 0).columns)
    return {
        "domain_classifier": lambda: nml.DomainClassifierCalculator(
            feature_column_names=features, chunk_size=chunk),
        "reconstruction": lambda: nml.DataReconstructionDriftCalculator(
            column_names=features, chunk_size=chunk),
    }

task = json.loads(sys.argv[1])
out = {}
for ref_rows, cur_rows, change, trials, methods in task["cells"]:
    chunk = max(cur_rows // 4, 10)
    makers = calculators(chunk)
    hits = dict.fromkeys(methods, 0)
    for trial in range(trials):
        reference, current = pair(ref_rows, cur_rows, change, trial)
        for name in methods:
            hits[name] += alerts(makers[name](), reference, current)
    out[f"{ref_rows}/{cur_rows} {change}"] = {name: hits[name] / trials for name in methods}
large = task["large"]
if large:
    reference, current = pair(large, large // 10, "none", 0)
    seconds = {}
    for name, make in calculators(large // 10).items():
        started = time.perf_counter()
        make().fit(reference).calculate(current)
        seconds[name] = time.perf_counter() - started
    out["large_seconds"] = seconds
print(json.dumps(out))
"""
)


def ours(cells: list[tuple[int, int, str, int]], large: int, repeats: int) -> dict:
    namespace: dict = {}
    exec(GENERATOR, namespace)  # noqa: S102 - our own generator, shared with NannyML's process
    pair = namespace["pair"]
    from utils.config import load_project_config
    from utils.monitoring.drift import data_drift
    from utils.monitoring.multivariate import configured_drift

    # config.yaml's drift section, exactly as the monitoring and fullprocess.py pass it: the
    # joint test is corrected together with the per-feature tests on the same rows.
    config = load_project_config(ROOT).drift
    settings = config.as_dict()

    def joint(reference, current, per_feature=None):
        if per_feature is None:
            per_feature = data_drift(reference, current, FEATURES, **config.univariate())
        return configured_drift(reference, current, FEATURES, settings, per_feature)

    out: dict = {}
    for ref_rows, cur_rows, change, trials in cells:
        hits = 0
        for trial in range(trials):
            hits += joint(*pair(ref_rows, cur_rows, change, trial)).drifted
        out[f"{ref_rows}/{cur_rows} {change}"] = hits / trials
    if large:
        reference, current = pair(large, large // 10, "none", 0)
        # Timed: the joint test alone (NannyML's calculators are joint tests alone).
        per_feature = data_drift(reference, current, FEATURES, **config.univariate())
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            joint(reference, current, per_feature)
            times.append(time.perf_counter() - started)
        out["large_seconds"] = statistics.median(times)
    return out


def shown(rate: float | None) -> str:
    """A rate for the table; a cell a method was not run on is a dash."""
    return "-" if rate is None else f"{rate:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials a cell (ours)")
    parser.add_argument(
        "--nannyml-trials",
        type=int,
        default=50,
        help="trials a cell for NannyML (its domain classifier: 2 s a trial)",
    )
    parser.add_argument("--big-trials", type=int, default=None,
                        help="trials at 100,000/100,000 (default: --trials / 10)")  # fmt: skip
    parser.add_argument("--large", type=int, default=1_000_000, help="reference rows timed")
    parser.add_argument("--repeats", type=int, default=3, help="timings of ours (median)")
    args = parser.parse_args()
    big_trials = args.big_trials or max(1, args.trials // 10)
    cells = [(r, c, "none", big_trials if r >= 100_000 else args.trials) for r, c in NULL_CELLS]
    cells += [(r, c, change, args.trials) for r, c, change in CHANGE_CELLS]
    started = time.perf_counter()
    mine = ours(cells, args.large, args.repeats)
    ours_s = time.perf_counter() - started
    # NannyML: the same cells with fewer trials (its domain classifier takes about 2 s a trial
    # at 2,000/2,000), and its domain classifier only up to 5,000 reference rows: it trains one
    # classifier per reference chunk too (160 of them at 20,000/500), minutes a trial beyond.
    their_cells = [
        (r, c, ch, min(t, args.nannyml_trials),
         ["reconstruction", "domain_classifier"] if r <= 5000 else ["reconstruction"])
        for r, c, ch, t in cells
    ]  # fmt: skip
    task = {"cells": their_cells, "large": args.large}
    started = time.perf_counter()
    answer = subprocess.run(
        [str(peer_python("nannyml-0.13.1", NANNYML_REQUIREMENTS)), "-c", NANNYML, json.dumps(task)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    theirs = json.loads(answer.stdout.strip().splitlines()[-1])
    theirs_s = time.perf_counter() - started

    print(f"{'cell':<26}{'ours':>8}{'NannyML DC':>12}{'NannyML DRD':>13}")
    for ref_rows, cur_rows, change, trials in cells:
        key = f"{ref_rows}/{cur_rows} {change}"
        peer = theirs.get(key, {})
        dc, drd = shown(peer.get("domain_classifier")), shown(peer.get("reconstruction"))
        print(f"{key:<26}{mine[key]:>8.3f}{dc:>12}{drd:>13}   ({trials} trials)")
    large_theirs = theirs.get("large_seconds", {})
    if args.large:
        size = f"{args.large:,}/{args.large // 10:,}"
        print(f"time at {size} rows: ours {mine['large_seconds']:.3f} s,"
              f" NannyML DC {large_theirs.get('domain_classifier', float('nan')):.2f} s,"
              f" DRD {large_theirs.get('reconstruction', float('nan')):.2f} s")  # fmt: skip
    print(f"wall: ours {ours_s:.1f} s, NannyML {theirs_s:.1f} s")
    break_key = "2000/2000 corr_break"
    null_keys = [f"{r}/{c} none" for r, c in NULL_CELLS]
    fastest = min(large_theirs.values()) if large_theirs else None
    print(
        json.dumps(
            {
                "max_false_alarm": max(mine[k] for k in null_keys),
                "power_corr_break_2k": mine[break_key],
                "nannyml_power_corr_break_2k": max(theirs[break_key].values()),
                "speedup": round(fastest / mine["large_seconds"], 1) if fastest else None,
                "trials": args.trials,
                "nannyml_trials": args.nannyml_trials,
                "ours": {k: v for k, v in mine.items()},
                "nannyml": theirs,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())

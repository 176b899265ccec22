"""Estimated performance without labels: ours against NannyML's CBPE on the same data and chunks.

    python benchmarks/estimation.py [--rows 1000000] [--chunk 5000]

A generated population with a known relationship (the label is drawn from a logistic function
of three features), a logistic regression trained on it, a labelled reference of 50,000 rows,
and ``--rows`` analysis rows in chunks of ``--chunk`` whose first feature shifts chunk by chunk
(covariate shift) so that the realised F1 falls. Both sides get the model's probabilities and
predictions of the same rows, fit on the reference and estimate F1 per chunk; each runs in its
own process (NannyML 0.13.1 in its own virtualenv: it needs pandas < 2.3 and statsmodels) and
reports the seconds of its fit and estimate of the same figures (F1, precision, recall, ROC AUC
and the confusion matrix). Printed per chunk: realised F1, ours, NannyML's.
The last line is one JSON object: mae_ours, mae_nannyml (mean absolute error of the estimated
against the realised F1 over the chunks), speedup (NannyML's seconds / ours), chunks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from generated import ROOT, peer_python

NANNYML_REQUIREMENTS = ["nannyml==0.13.1", "pandas<2.3", "statsmodels"]
WEIGHTS = np.array([2.0, 1.0, -0.5])
INTERCEPT = -0.5
REFERENCE_ROWS = 50_000

OURS = """
import json, sys, time
import numpy as np
import sklearn.isotonic  # imported before the clock starts, as NannyML's imports are
from utils.monitoring.estimation import chunk_starts_by_rows, estimate_chunks, fit_calibration
d = np.load(sys.argv[1])
chunk = int(sys.argv[2])
started = time.perf_counter()
calibration = fit_calibration(d["ref_proba"], d["ref_y"])
starts = chunk_starts_by_rows(len(d["ana_proba"]), chunk)
chunks = estimate_chunks(d["ana_proba"], calibration, starts)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "f1": [c["f1"] for c in chunks],
                  "calibrated": calibration.used}))
"""
NANNYML = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
import nannyml as nml
d = np.load(sys.argv[1])
chunk = int(sys.argv[2])
reference = pd.DataFrame({"proba": d["ref_proba"], "pred": (d["ref_proba"] > 0.5).astype(int),
                          "y": d["ref_y"].astype(int)})
analysis = pd.DataFrame({"proba": d["ana_proba"], "pred": (d["ana_proba"] > 0.5).astype(int)})
started = time.perf_counter()
# Every figure ours gives: F1, precision, recall, ROC AUC and the confusion matrix.
estimator = nml.CBPE(y_pred_proba="proba", y_pred="pred", y_true="y",
                     metrics=["f1", "precision", "recall", "roc_auc", "confusion_matrix"],
                     chunk_size=chunk, problem_type="classification_binary")
estimator.fit(reference)
result = estimator.estimate(analysis).filter(period="analysis").to_df()
seconds = time.perf_counter() - started
values = result[("f1", "value")].tolist()
print(json.dumps({"seconds": seconds, "f1": values}))
"""


def population(rows: int, shift: np.ndarray, rng: np.random.Generator):
    """Features (first one shifted row by row) and labels from the known relationship."""
    features = rng.normal(size=(rows, 3))
    features[:, 0] += shift
    probability = 1.0 / (1.0 + np.exp(-(features @ WEIGHTS + INTERCEPT)))
    return features, (rng.random(rows) < probability).astype(np.float64)


def realized_f1(proba: np.ndarray, truth: np.ndarray, chunk: int) -> list[float]:
    from utils.monitoring.estimation import chunk_starts_by_rows, realized_chunks

    return [c["f1"] for c in realized_chunks(proba, truth, chunk_starts_by_rows(len(proba), chunk))]


def run_side(python: Path, code: str, data: Path, chunk: int) -> dict:
    done = subprocess.run(
        [str(python), "-c", code, str(data), str(chunk)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"{python} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="analysis rows")
    parser.add_argument("--chunk", type=int, default=5000, help="rows per chunk")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(args.seed)
    train_x, train_y = population(20_000, np.zeros(20_000), rng)
    model = LogisticRegression().fit(train_x, train_y)
    ref_x, ref_y = population(REFERENCE_ROWS, np.zeros(REFERENCE_ROWS), rng)
    # The first feature drifts down by up to 1.5 standard deviations over the analysis rows.
    ana_x, ana_y = population(args.rows, np.linspace(0.0, -1.5, args.rows), rng)
    ref_proba = model.predict_proba(ref_x)[:, 1]
    ana_proba = model.predict_proba(ana_x)[:, 1]
    realized = realized_f1(ana_proba, ana_y, args.chunk)
    with tempfile.TemporaryDirectory(prefix="bench-estimation-") as scratch:
        data = Path(scratch) / "data.npz"
        np.savez(data, ref_proba=ref_proba, ref_y=ref_y, ana_proba=ana_proba)
        ours = run_side(Path(sys.executable), OURS, data, args.chunk)
        theirs = run_side(peer_python("nannyml-0.13.1", NANNYML_REQUIREMENTS), NANNYML, data,
                          args.chunk)  # fmt: skip
    if len(theirs["f1"]) != len(realized) or len(ours["f1"]) != len(realized):
        sys.exit(f"chunk counts differ: {len(realized)}, {len(ours['f1'])}, {len(theirs['f1'])}")
    print(f"{'chunk':>6} {'realised':>9} {'ours':>9} {'NannyML':>9}")
    step = max(1, len(realized) // 20)
    for i in range(0, len(realized), step):
        print(f"{i:6d} {realized[i]:9.4f} {ours['f1'][i]:9.4f} {theirs['f1'][i]:9.4f}")
    truth = np.array(realized)
    mae_ours = float(np.mean(np.abs(np.array(ours["f1"]) - truth)))
    mae_theirs = float(np.mean(np.abs(np.array(theirs["f1"]) - truth)))
    print(f"MAE ours {mae_ours:.4f}, NannyML {mae_theirs:.4f}; seconds ours {ours['seconds']:.3f},"
          f" NannyML {theirs['seconds']:.2f}")  # fmt: skip
    print(
        json.dumps(
            {
                "mae_ours": round(mae_ours, 5),
                "mae_nannyml": round(mae_theirs, 5),
                "speedup": round(theirs["seconds"] / ours["seconds"], 1),
                "chunks": len(realized),
                "rows": args.rows,
                "chunk_rows": args.chunk,
                "ours_s": round(ours["seconds"], 4),
                "nannyml_s": round(theirs["seconds"], 3),
                "calibrated": ours["calibrated"],
                "realised_f1_first_last": [round(realized[0], 4), round(realized[-1], 4)],
            }
        )
    )


if __name__ == "__main__":
    main()

"""Data drift at 1,000,000 x 10 against 1,000,000 rows: ours against Evidently's DataDriftPreset.

    python benchmarks/drift.py [--rows 1000000] [--columns 10] [--shifted 3]

Three columns of the current data are shifted by 0.3 standard deviations. Each side runs in its
own process, on the same .npy files, ours with config.yaml's drift settings; Evidently in its own
virtualenv with pandas<3, since Evidently 0.7.23 does not import with pandas 3: made on first use
in ~/.cache/risk-monitoring (or $RISK_BENCH_CACHE) and reused by every clone on the machine.
Where the verdicts differ, says why. Also times the no-new-data path of fullprocess.py. The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from drift_quality import drift_settings
from generated import ROOT, peer_python
from measure import run_measured

EVIDENTLY_REQUIREMENTS = ["evidently==0.7.23", "pandas<3"]

# Each side loads the two arrays, runs its drift detection, and prints seconds and verdicts.
OURS = """
import json, sys, time
import numpy as np, pandas as pd
from utils.monitoring.drift import data_drift
ref, cur = np.load(sys.argv[1]), np.load(sys.argv[2])
columns = [f"x{i}" for i in range(ref.shape[1])]
reference, current = pd.DataFrame(ref, columns=columns), pd.DataFrame(cur, columns=columns)
started = time.perf_counter()
result = data_drift(reference, current, columns, **json.loads(sys.argv[3]))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "verdicts": {f.feature: f.drift for f in result.features},
                  "scores": {f.feature: f"p {f.adjusted_p_value:.3g}, effect {f.effect_size:.3f}"
                             for f in result.features}}))
"""
EVIDENTLY = """
import json, sys, time
import numpy as np, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref, cur = np.load(sys.argv[1]), np.load(sys.argv[2])
columns = [f"x{i}" for i in range(ref.shape[1])]
reference, current = pd.DataFrame(ref, columns=columns), pd.DataFrame(cur, columns=columns)
started = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
seconds = time.perf_counter() - started
verdicts, scores = {}, {}
for metric in snapshot.dict()["metrics"]:
    config = metric.get("config", {})
    if config.get("type", "").endswith("ValueDrift"):
        value, threshold = metric["value"], config["threshold"]
        p_value = "p_value" in config["method"].lower()
        verdicts[config["column"]] = bool(value < threshold if p_value else value >= threshold)
        scores[config["column"]] = value
print(json.dumps({"seconds": seconds, "verdicts": verdicts, "scores": scores}))
"""


def measured(command: list[str]) -> dict:
    """Run ``command``; its JSON output plus wall seconds and peak RSS."""
    stdout, seconds, peak = run_measured(command)
    result = json.loads(stdout.strip().splitlines()[-1])
    result["process_seconds"] = seconds
    result["peak_rss_mib"] = peak
    return result


def no_new_data_seconds(runs: int = 5) -> float:
    """Median wall time of fullprocess.py when every source file is already known."""
    from utils.automation.sources import HashCache, source_files
    from utils.ops.events import EventKind
    from utils.store.history import MonitoringStore

    with tempfile.TemporaryDirectory(prefix="bench-fp-") as scratch:
        scratch_dir = Path(scratch)
        source = ROOT / "01_data" / "sourcedata"
        store_url = f"sqlite:///{scratch_dir / 'monitoring.db'}"
        known = source_files(source, HashCache(scratch_dir / "unused.json"))
        store = MonitoringStore(store_url)
        store.record_event(
            EventKind.DECISION, {"files": [{"name": f.name, "sha256": f.sha256} for f in known]}
        )
        store.close()
        command = [
            sys.executable,
            str(ROOT / "fullprocess.py"),
            f"store.url={store_url}",
            f"automation.hash_cache={scratch_dir / 'hashes.json'}",
            f"automation.lock_file={scratch_dir / 'lock'}",
            f"paths.deployment_dir={scratch_dir / 'production_deployment'}",
        ]
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
            times.append(time.perf_counter() - started)
            assert "no new data" in done.stderr, done.stderr
        return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each data set")
    parser.add_argument("--columns", type=int, default=10, help="numeric columns")
    parser.add_argument("--shifted", type=int, default=3, help="columns shifted by 0.3 std")
    args = parser.parse_args()

    evidently_python = peer_python("evidently-0.7.23", EVIDENTLY_REQUIREMENTS)
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(args.rows, args.columns))
    current = rng.normal(size=(args.rows, args.columns))
    current[:, : args.shifted] += 0.3
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as scratch:
        ref_path, cur_path = Path(scratch) / "reference.npy", Path(scratch) / "current.npy"
        np.save(ref_path, reference)
        np.save(cur_path, current)
        del reference, current
        settings = json.dumps(drift_settings())
        ours = measured([sys.executable, "-c", OURS, str(ref_path), str(cur_path), settings])
        theirs = measured([str(evidently_python), "-c", EVIDENTLY, str(ref_path), str(cur_path)])

    print(f"{'':10} {'drift s':>8} {'process s':>10} {'peak MiB':>9}  drifted columns")
    for name, result in (("ours", ours), ("evidently", theirs)):
        drifted = sorted(c for c, v in result["verdicts"].items() if v)
        print(
            f"{name:10} {result['seconds']:8.2f} {result['process_seconds']:10.2f} "
            f"{result['peak_rss_mib']:9.0f}  {', '.join(drifted)}"
        )
    differing = sorted(c for c in ours["verdicts"] if ours["verdicts"][c] != theirs["verdicts"][c])
    for column in differing:
        print(
            f"{column}: ours {ours['verdicts'][column]} (corrected {ours['scores'][column]} std;"
            f" needs p < p_threshold and effect >= min_effect), Evidently "
            f"{theirs['verdicts'][column]} (normed Wasserstein {theirs['scores'][column]:.4f}, "
            "drift at >= 0.1 whatever the sample size)"
        )
    fullprocess_s = no_new_data_seconds()
    print(f"fullprocess.py with no new data: {fullprocess_s:.2f} s (median of 5)")
    print(
        json.dumps(
            {
                "speedup": round(theirs["seconds"] / ours["seconds"], 1),
                "process_speedup": round(theirs["process_seconds"] / ours["process_seconds"], 1),
                "same_verdicts": not differing,
                "differing_columns": differing,
                "ours_s": round(ours["seconds"], 3),
                "evidently_s": round(theirs["seconds"], 3),
                "ours_peak_mib": round(ours["peak_rss_mib"]),
                "evidently_peak_mib": round(theirs["peak_rss_mib"]),
                "rows": args.rows,
                "columns": args.columns,
                "fullprocess_no_new_data_s": round(fullprocess_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()

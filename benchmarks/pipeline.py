"""Every pipeline step at a given size: wall time per step, and how it grows with the rows.

    python benchmarks/pipeline.py --rows 1000000 3000000 10000000

For each size the whole pipeline (main.py, all steps, local environment) runs in a copy of the
project on generated data: ``--rows`` rows in 20 files with about 5 % duplicate rows to
ingest, and a test set of as many rows to score. Each step's wall time is what main.py
measured around its MLflow run (process start-up included). The last line is one JSON object
with the seconds per step and size, the slowest step, and per step the growth exponent between
the smallest and the largest size (1.0 is linear: ten times the rows, ten times the time).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generated import CACHE, ROOT, dataset

STEPS = [
    "data_ingestion",
    "model_training",
    "model_scoring",
    "model_deployment",
    "diagnostics",
    "reporting",
]


def project_copy(target: Path) -> Path:
    """The project's own files (tracked or not ignored), as a fresh clone would have them."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def step_seconds(tracking_uri: str) -> dict[str, float]:
    """The wall time of each step, as the newest parent run recorded it."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("risk_monitoring")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="metrics.duration_s_total > 0",
        order_by=["start_time DESC"],
        max_results=1,
    )
    metrics = runs[0].data.metrics
    return {step: metrics[f"duration_s_{step}"] for step in STEPS}


def run_pipeline(rows: int, files: int, cache: Path) -> dict[str, float]:
    input_dir = dataset(rows, files, cache)
    test_dir = dataset(rows, 1, cache, seed=1, duplicate_fraction=0.0)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        project = project_copy(Path(scratch) / "project")
        tracking_uri = f"sqlite:///{Path(scratch) / 'mlflow.db'}"
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "main.py",
                f"paths.input_dir={input_dir}",
                f"paths.test_data={test_dir / 'part1.csv'}",
                f"main.tracking_uri={tracking_uri}",
            ],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"pipeline failed at {rows:,} rows:\n{done.stderr[-3000:]}")
        total = time.perf_counter() - started
        seconds = step_seconds(tracking_uri)
    return {**seconds, "total": total}


def growth_exponent(small: tuple[int, float], large: tuple[int, float]) -> float:
    """log(time ratio) / log(rows ratio): 1.0 when time grows as the rows do."""
    return math.log(large[1] / small[1]) / math.log(large[0] / small[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[1_000_000], help="sizes to run, in rows"
    )
    parser.add_argument("--files", type=int, default=20, help="CSV files to ingest")
    parser.add_argument(
        "--cache", type=Path, default=CACHE, help="where generated data sets are kept"
    )
    args = parser.parse_args()

    sizes = sorted(set(args.rows))
    results = {rows: run_pipeline(rows, args.files, args.cache) for rows in sizes}
    columns = [*STEPS, "total"]
    print(f"{'step':18}" + "".join(f"{rows:>14,}" for rows in sizes))
    for column in columns:
        print(f"{column:18}" + "".join(f"{results[rows][column]:13.1f}s" for rows in sizes))
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest process peak RSS: {peak_mib:.0f} MiB")
    largest = results[sizes[-1]]
    slowest = max(STEPS, key=lambda step: largest[step])
    summary: dict[str, object] = {
        "rows": sizes,
        "seconds": {column: [round(results[r][column], 2) for r in sizes] for column in columns},
        "slowest_step": slowest,
        "slowest_step_s": round(largest[slowest], 2),
        "all_steps_under_60_s": all(largest[step] < 60 for step in STEPS),
        "peak_rss_mib": round(peak_mib),
    }
    if len(sizes) > 1:
        summary["growth_exponent"] = {
            column: round(
                growth_exponent(
                    (sizes[0], results[sizes[0]][column]), (sizes[-1], largest[column])
                ),
                2,
            )
            for column in columns
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

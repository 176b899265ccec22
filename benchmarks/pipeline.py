"""Every pipeline step at a given size: wall time per step, and how it grows with the rows.

    python benchmarks/pipeline.py --rows 1000000 3000000 10000000

For each size the pipeline runs in a copy of the project on generated data: ``--rows`` rows in
20 files with about 5 % duplicate rows to ingest, and a test set of as many rows to score. Each
step runs from its own main.py call (local environment); its wall time is what main.py measured
around its MLflow run (process start-up included) and its peak RSS is that of the step's
processes. Then fullprocess.py checks a source folder whose files are all ingested: that check
must not grow with the data. Printed: seconds per step and size, the extra seconds per extra
million rows between sizes (equal figures: linear growth). The last line is one JSON object.

    python benchmarks/pipeline.py --demo [--repeats 3]

The overhead floor instead: the demo pipeline (one ``main.py`` call on the shipped data, in a
fresh copy of the project each time, as a new user's first run) against six MLflow steps that
do nothing but join their run, run the same way: the same ``main.py`` call in a copy of the
project whose step scripts are replaced by that no-op (same Hydra configuration, parent run,
MLproject files and parameters, local env manager, SQLite tracking store). Alternately,
``--repeats`` times each; the last line's ``floor_ratio`` is median demo seconds / median
no-op seconds.

Four of the project's steps do not join their run themselves: they hand their records to
main.py, which logs them (utils.model.tracking.StepRun), so they skip MLflow's import and store
start-up that every no-op step pays. The bare floor is printed too: six steps whose scripts
are empty, i.e. what ``mlflow run`` itself costs (``bare_ratio``: demo / bare steps).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from generated import CACHE, ROOT, dataset
from measure import run_measured

from main import _step_folders, _steps

STEPS = _steps  # main.py's own list, in its order
STEP_FOLDERS = _step_folders


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


def newest_step_duration(tracking_uri: str, step: str) -> float:
    """The step's wall time as main.py measured it around its MLflow run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("risk_monitoring")
    newest = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"metrics.duration_s_{step} > 0",
        order_by=["start_time DESC"],
        max_results=1,
    )
    return newest[0].data.metrics[f"duration_s_{step}"]


def run_pipeline(rows: int, files: int, cache: Path) -> dict[str, dict[str, float]]:
    """Every step in order, each from its own main.py call; then fullprocess with no new data."""
    input_dir = dataset(rows, files, cache)
    test_data = dataset(rows, 1, cache, seed=1, duplicate_fraction=0.0) / "part1.csv"
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        project = project_copy(Path(scratch) / "project")
        tracking_uri = f"sqlite:///{Path(scratch) / 'mlflow.db'}"
        overrides = [
            f"paths.input_dir={input_dir}",
            f"paths.test_data={test_data}",
            f"main.tracking_uri={tracking_uri}",
        ]
        for step in STEPS:
            *_, peak = run_measured(
                [sys.executable, "main.py", f"main.steps={step}", *overrides], project, env=None
            )
            seconds = newest_step_duration(tracking_uri, step)
            results[step] = {"seconds": seconds, "peak_mib": peak}
            print(f"  {rows:,} rows: {step} {seconds:.1f} s, {peak:.0f} MiB", file=sys.stderr)
        # Everything in the source folder is already ingested: the quick check must say so
        # without reading finaldata.csv. The second call is the cron steady state (hashes cached).
        check = [sys.executable, "fullprocess.py", f"automation.source_dir={input_dir}", *overrides]
        run_measured(check, project, env=None)
        _, seconds, peak = run_measured(check, project, env=None)
        results["fullprocess_no_new_data"] = {"seconds": seconds, "peak_mib": peak}
    return results


# The floor's step: nothing but joining the run mlflow.run made for it.
NOOP_STEP = """
import mlflow

with mlflow.start_run():
    pass
"""
# The bare floor's step: nothing at all.
BARE_STEP = ""


def step_script(folder: Path) -> Path:
    """The script a step folder's MLproject runs (``python <script> ...``)."""
    command = (folder / "MLproject").read_text().split("command:", 1)[1]
    return folder / command.split("python", 1)[1].split()[0]


def noop_project(target: Path, script: str = NOOP_STEP) -> Path:
    """The project with every step's script replaced by ``script`` (by default one that only
    joins its MLflow run): the same main.py, configuration, MLproject files and parameters."""
    project = project_copy(target)
    for folder in STEP_FOLDERS.values():
        step_script(project / folder).write_text(script)
    return project


def run_demo(repeats: int) -> dict[str, object]:
    """The demo pipeline, the same pipeline with no-op steps and with empty steps, in turns,
    ``repeats`` times each; each is one ``main.py`` call in a fresh copy of the project."""
    variants = {"demo": None, "noop": NOOP_STEP, "bare": BARE_STEP}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for attempt in range(repeats):
        for name, script in variants.items():
            with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as scratch:
                target = Path(scratch) / "project"
                project = project_copy(target) if script is None else noop_project(target, script)
                _, elapsed, _ = run_measured([sys.executable, "main.py"], project, env=None)
                seconds[name].append(elapsed)
        print(
            f"  run {attempt + 1}: demo {seconds['demo'][-1]:.1f} s, no-op steps "
            f"{seconds['noop'][-1]:.1f} s, empty steps {seconds['bare'][-1]:.1f} s",
            file=sys.stderr,
        )
    median = {name: statistics.median(values) for name, values in seconds.items()}
    labels = {"demo": "demo pipeline", "noop": "six no-op MLflow steps", "bare": "six empty steps"}
    print(f"{'':24}{'median s':>10}  all runs")
    for name, label in labels.items():
        runs = ", ".join(f"{s:.1f}" for s in seconds[name])
        print(f"{label:24}{median[name]:10.1f}  {runs}")
    return {
        "demo_s": round(median["demo"], 2),
        "noop_steps_s": round(median["noop"], 2),
        "bare_steps_s": round(median["bare"], 2),
        "floor_ratio": round(median["demo"] / median["noop"], 3),
        "bare_ratio": round(median["demo"] / median["bare"], 3),
        "repeats": repeats,
    }


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
    parser.add_argument(
        "--demo", action="store_true", help="the demo pipeline against six no-op MLflow steps"
    )
    parser.add_argument("--repeats", type=int, default=3, help="--demo: runs of each, median")
    args = parser.parse_args()
    if args.demo:
        print(json.dumps(run_demo(args.repeats)))
        return

    sizes = sorted(set(args.rows))
    results = {rows: run_pipeline(rows, args.files, args.cache) for rows in sizes}
    columns = [*STEPS, "fullprocess_no_new_data"]
    print(f"{'seconds':24}" + "".join(f"{rows:>13,}" for rows in sizes) + "   peak MiB at largest")
    for column in columns:
        cells = "".join(f"{results[rows][column]['seconds']:12.1f}s" for rows in sizes)
        print(f"{column:24}{cells}{results[sizes[-1]][column]['peak_mib']:12.0f}")
    if len(sizes) > 1:
        print("seconds per extra million rows, between successive sizes:")
        for column in STEPS:
            cells = "".join(
                f"{per_million(results, small, large, column):12.2f} "
                for small, large in zip(sizes, sizes[1:], strict=False)
            )
            print(f"  {column:22}{cells}")
    largest = results[sizes[-1]]
    slowest = max(STEPS, key=lambda step: largest[step]["seconds"])
    summary: dict[str, object] = {
        "rows": sizes,
        "seconds": {c: [round(results[r][c]["seconds"], 2) for r in sizes] for c in columns},
        "peak_mib": {c: [round(results[r][c]["peak_mib"]) for r in sizes] for c in columns},
        "slowest_step": slowest,
        "slowest_step_s": round(largest[slowest]["seconds"], 2),
        "all_steps_under_60_s": all(largest[step]["seconds"] < 60 for step in STEPS),
    }
    if len(sizes) > 1:
        summary["growth_exponent"] = {
            step: round(
                growth_exponent(
                    (sizes[0], results[sizes[0]][step]["seconds"]),
                    (sizes[-1], largest[step]["seconds"]),
                ),
                2,
            )
            for step in STEPS
        }
    print(json.dumps(summary))


def per_million(results: dict, small: int, large: int, step: str) -> float:
    """The step's extra seconds per extra million rows from ``small`` to ``large`` rows:
    the same figure between every pair of sizes means the cost grows linearly."""
    extra = results[large][step]["seconds"] - results[small][step]["seconds"]
    return extra / ((large - small) / 1_000_000)


if __name__ == "__main__":
    main()

"""Ingestion and batch scoring on both engines: time, peak memory, cost per extra million rows.

    python benchmarks/engines.py --rows 10000000      # and 1/10 and 3/10 of it, for the growth

For each size, in a copy of the project: the generated data (20 files, about 5 % duplicate
rows) is ingested, a model trained and deployed once (local engine); then ingestion
(``main.py main.steps=data_ingestion``) and batch scoring of the same files
(``batch_scoring.py``) run with ``compute.engine=local`` and with ``compute.engine=spark``
(``--master``, default ``local[*]``: this machine's cores). Wall time includes each command's
start-up (Python, MLflow; Spark's JVM for spark); peak memory is the most that the command and
all its processes (Spark's JVM and Python workers) held at once, sampled every 0.2 s. Spark on
two cores is expected to lose to Polars: what this shows is that it runs, gives the same files
(``same_results``: finaldata.csv, ingestedfiles.txt and the predictions, byte for byte) and
that its cost grows linearly. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from generated import CACHE, dataset
from measure import run_measured, run_sampled
from pipeline import project_copy

from utils.model.deployment import deployed_model_uri

HERE = Path(__file__).resolve().parent
OUTPUTS = ("finaldata.csv", "ingestedfiles.txt")
WORKS = ("ingest", "score")


def spark_runs(cores: list[int], master: str) -> dict[str, str]:
    """The Spark runs at each size, by name: one per --cores count (local[N]), or the one
    --master. The first named "spark" (and its floor "floor") is the most cores'."""
    if not cores:
        return {"spark": master}
    ordered = sorted(set(cores), reverse=True)
    return {("spark" if n == ordered[0] else f"spark_{n}"): f"local[{n}]" for n in ordered}


def floor_name(spark: str) -> str:
    return spark.replace("spark", "floor", 1)


def run_size(
    rows: int, files: int, cache: Path, runs: dict[str, str]
) -> dict[str, dict[str, float]]:
    """Ingestion and batch scoring with the local engine, the Spark engine and the plain-Spark
    floor (benchmarks/spark_floor.py) at ``rows`` rows; seconds, MiB, and whether every
    engine's files are the local engine's."""
    source = dataset(rows, files, cache)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as scratch:
        project = project_copy(Path(scratch) / "project")
        tracking = f"sqlite:///{scratch}/mlflow.db"
        base = [f"paths.input_dir={source}", f"main.tracking_uri={tracking}"]
        steps = "main.steps=data_ingestion,model_training,model_scoring,model_deployment"
        run_measured([sys.executable, "main.py", steps, *base], project, env=None)
        outputs: dict[str, list[bytes]] = {}
        engines = {"local": "local", **runs}
        for name, master in engines.items():
            engine = "local" if name == "local" else "spark"
            chosen = [*base, f"compute.engine={engine}", f"compute.spark_master='{master}'"]
            ingest = [sys.executable, "main.py", "main.steps=data_ingestion", *chosen]
            _, ingest_s, ingest_mib = run_sampled(ingest, project, env=None)
            ingested = project / "01_data" / "ingesteddata"
            predictions = Path(scratch) / f"predictions-{name}.csv"
            score = [sys.executable, "batch_scoring.py", "--input", str(source),
                     "--output", str(predictions), *chosen]  # fmt: skip
            _, score_s, score_mib = run_sampled(score, project, env=None)
            outputs[name] = [*((ingested / out).read_bytes() for out in OUTPUTS),
                             predictions.read_bytes()]  # fmt: skip
            results[name] = {
                "ingest_s": ingest_s,
                "ingest_mib": ingest_mib,
                "score_s": score_s,
                "score_mib": score_mib,
            }
            report(rows, name, results[name])
        model_uri = deployed_model_uri(project / "production_deployment")
        for name, master in runs.items():
            results[floor_name(name)] = run_floor(source, model_uri, master, tracking, scratch)
            report(rows, floor_name(name), results[floor_name(name)])
        same = all(outputs[name] == outputs["local"] for name in engines)
        results["same"] = {"results": float(same)}
    return results


def run_floor(source: Path, model_uri: str, master: str, tracking: str, scratch: str):
    """The plain-Spark floor's ingestion and scoring of the same files, measured alike."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    floor = [sys.executable, str(HERE / "spark_floor.py")]
    common = ["--input", str(source), "--master", master]
    _, ingest_s, ingest_mib = run_sampled(
        [*floor, "ingest", *common, "--output", f"{scratch}/floor-finaldata.csv"], HERE, env=env
    )
    _, score_s, score_mib = run_sampled(
        [*floor, "score", *common, "--model-uri", model_uri,
         "--output", f"{scratch}/floor-predictions.csv"], HERE, env=env,
    )  # fmt: skip
    return {"ingest_s": ingest_s, "ingest_mib": ingest_mib, "score_s": score_s,
            "score_mib": score_mib}  # fmt: skip


def report(rows: int, name: str, result: dict[str, float]) -> None:
    print(f"  {rows:,} rows, {name}: ingestion {result['ingest_s']:.1f} s "
          f"({result['ingest_mib']:.0f} MiB), scoring {result['score_s']:.1f} s "
          f"({result['score_mib']:.0f} MiB)", file=sys.stderr)  # fmt: skip


def per_million(small: tuple[int, float], large: tuple[int, float]) -> float:
    """Extra seconds per extra million rows between two sizes."""
    return (large[1] - small[1]) / ((large[0] - small[0]) / 1_000_000)


def growth_of(results: dict, sizes: list[int], name: str, works=WORKS) -> list[float]:
    """``name``'s extra seconds per extra million rows for ``works``, between successive
    sizes."""
    total = {r: sum(results[r][name][f"{w}_s"] for w in works) for r in sizes}
    return [
        round(per_million((small, total[small]), (large, total[large])), 3)
        for small, large in zip(sizes, sizes[1:], strict=False)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the largest size")
    parser.add_argument("--files", type=int, default=20, help="CSV files the rows are spread over")
    parser.add_argument("--master", default="local[*]", help="Spark master for the spark engine")
    parser.add_argument(
        "--cores",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[],
        help="run Spark at local[N] for each N (e.g. 1,2) instead of --master",
    )
    parser.add_argument("--cache", type=Path, default=CACHE, help="where data sets are kept")
    args = parser.parse_args()

    # A tenth and three tenths of the rows as well: the cost per extra million between each
    # pair of sizes, equal when the cost grows linearly (not for a tiny smoke run).
    sizes = [args.rows]
    if args.rows >= 100_000:
        sizes = sorted({args.rows // 10, args.rows * 3 // 10, args.rows})
    runs = spark_runs(args.cores, args.master)
    results = {rows: run_size(rows, args.files, args.cache, runs) for rows in sizes}
    names = ["local", *runs, *map(floor_name, runs)]
    header = "".join(f"{rows:>13,}" for rows in sizes)
    print(f"{'seconds (peak MiB)':28}{header}")
    for name in names:
        for work in WORKS:
            cells = "".join(
                f"{results[r][name][f'{work}_s']:7.1f} ({results[r][name][f'{work}_mib']:4.0f})"
                for r in sizes
            )
            print(f"{name + ' ' + work:28}{cells}")
    largest = results[sizes[-1]]
    growth: dict[str, list[float]] = {}
    floor_ratios: dict[str, float | None] = {"ingest": None, "score": None}
    if len(sizes) > 1:
        print("extra seconds per extra million rows, between successive sizes:")
        for name in names:
            for work in WORKS:
                growth[f"{name}_{work}"] = growth_of(results, sizes, name, (work,))
                cells = "".join(f"{g:8.2f}" for g in growth[f"{name}_{work}"])
                print(f"  {name + ' ' + work:26}{cells}")
        for work in WORKS:
            # Between the two largest sizes: fixed costs (the JVM, MLflow) cancel out.
            floor_ratios[work] = round(growth[f"spark_{work}"][-1] / growth[f"floor_{work}"][-1], 3)
        for name, master in runs.items():
            print(f"  {master}: spark engine {sum(growth[f'{name}_{w}'][-1] for w in WORKS):.2f}"
                  f" s per extra million rows (ingestion and scoring), plain Spark "
                  f"{sum(growth[f'{floor_name(name)}_{w}'][-1] for w in WORKS):.2f}")  # fmt: skip
    local_s = largest["local"]["ingest_s"] + largest["local"]["score_s"]
    spark_s = largest["spark"]["ingest_s"] + largest["spark"]["score_s"]
    summary = {
        "rows": sizes[-1],
        "local_s": round(local_s, 2),
        "spark_s": round(spark_s, 2),
        "same_results": all(results[r]["same"]["results"] == 1.0 for r in sizes),
        "spark_to_local": round(spark_s / local_s, 2),
        "spark_floor_s": {
            str(r): round(results[r]["floor"]["ingest_s"] + results[r]["floor"]["score_s"], 2)
            for r in sizes
        },
        "ingest_floor_ratio": floor_ratios["ingest"],
        "score_floor_ratio": floor_ratios["score"],
        "seconds_per_extra_million": {
            name: [
                round(sum(pair), 3)
                for pair in zip(*(growth[f"{name}_{w}"] for w in WORKS), strict=True)
            ]
            for name in names
        }
        if growth
        else {},
        "spark_masters": runs,
        "peak_mib": {
            name: round(max(largest[name]["ingest_mib"], largest[name]["score_mib"]))
            for name in names
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

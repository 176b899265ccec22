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
import sys
import tempfile
from pathlib import Path

from generated import CACHE, dataset
from measure import run_measured, run_sampled
from pipeline import project_copy

ENGINES = ("local", "spark")
OUTPUTS = ("finaldata.csv", "ingestedfiles.txt")


def run_size(rows: int, files: int, cache: Path, master: str) -> dict[str, dict[str, float]]:
    """Ingestion and batch scoring with each engine at ``rows`` rows; seconds, MiB, and
    whether every engine's files are the local engine's."""
    source = dataset(rows, files, cache)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as scratch:
        project = project_copy(Path(scratch) / "project")
        base = [f"paths.input_dir={source}", f"main.tracking_uri=sqlite:///{scratch}/mlflow.db"]
        steps = "main.steps=data_ingestion,model_training,model_scoring,model_deployment"
        run_measured([sys.executable, "main.py", steps, *base], project, env=None)
        outputs: dict[str, list[bytes]] = {}
        for engine in ENGINES:
            chosen = [*base, f"compute.engine={engine}", f"compute.spark_master='{master}'"]
            ingest = [sys.executable, "main.py", "main.steps=data_ingestion", *chosen]
            _, ingest_s, ingest_mib = run_sampled(ingest, project, env=None)
            ingested = project / "01_data" / "ingesteddata"
            predictions = Path(scratch) / f"predictions-{engine}.csv"
            score = [sys.executable, "batch_scoring.py", "--input", str(source),
                     "--output", str(predictions), *chosen]  # fmt: skip
            _, score_s, score_mib = run_sampled(score, project, env=None)
            outputs[engine] = [*((ingested / name).read_bytes() for name in OUTPUTS),
                               predictions.read_bytes()]  # fmt: skip
            results[engine] = {
                "ingest_s": ingest_s,
                "ingest_mib": ingest_mib,
                "score_s": score_s,
                "score_mib": score_mib,
            }
            print(f"  {rows:,} rows, {engine}: ingestion {ingest_s:.1f} s ({ingest_mib:.0f} MiB), "
                  f"scoring {score_s:.1f} s ({score_mib:.0f} MiB)", file=sys.stderr)  # fmt: skip
        same = all(outputs[engine] == outputs["local"] for engine in ENGINES)
        results["same"] = {"results": float(same)}
    return results


def per_million(small: tuple[int, float], large: tuple[int, float]) -> float:
    """Extra seconds per extra million rows between two sizes."""
    return (large[1] - small[1]) / ((large[0] - small[0]) / 1_000_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the largest size")
    parser.add_argument("--files", type=int, default=20, help="CSV files the rows are spread over")
    parser.add_argument("--master", default="local[*]", help="Spark master for the spark engine")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where data sets are kept")
    args = parser.parse_args()

    # A tenth and three tenths of the rows as well: the cost per extra million between each
    # pair of sizes, equal when the cost grows linearly (not for a tiny smoke run).
    sizes = [args.rows]
    if args.rows >= 100_000:
        sizes = sorted({args.rows // 10, args.rows * 3 // 10, args.rows})
    results = {rows: run_size(rows, args.files, args.cache, args.master) for rows in sizes}
    header = "".join(f"{rows:>13,}" for rows in sizes)
    print(f"{'seconds (peak MiB)':28}{header}")
    for engine in ENGINES:
        for work in ("ingest", "score"):
            cells = "".join(
                f"{results[r][engine][f'{work}_s']:7.1f} ({results[r][engine][f'{work}_mib']:4.0f})"
                for r in sizes
            )
            print(f"{engine + ' ' + work:28}{cells}")
    largest = results[sizes[-1]]
    growth: dict[str, list[float]] = {}
    if len(sizes) > 1:
        print("extra seconds per extra million rows, between successive sizes:")
        for engine in ENGINES:
            total = {
                r: results[r][engine]["ingest_s"] + results[r][engine]["score_s"] for r in sizes
            }
            growth[engine] = [
                round(per_million((small, total[small]), (large, total[large])), 3)
                for small, large in zip(sizes, sizes[1:], strict=False)
            ]
            print(f"  {engine:26}" + "".join(f"{g:8.2f}" for g in growth[engine]))
    local_s = largest["local"]["ingest_s"] + largest["local"]["score_s"]
    spark_s = largest["spark"]["ingest_s"] + largest["spark"]["score_s"]
    summary = {
        "rows": sizes[-1],
        "local_s": round(local_s, 2),
        "spark_s": round(spark_s, 2),
        "same_results": all(results[r]["same"]["results"] == 1.0 for r in sizes),
        "spark_to_local": round(spark_s / local_s, 2),
        "seconds_per_extra_million": growth,
        "peak_mib": {
            e: round(max(largest[e]["ingest_mib"], largest[e]["score_mib"])) for e in ENGINES
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

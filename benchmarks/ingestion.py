"""Ingestion of a folder of CSV files: the naive pandas way against the pipeline's own.

    python benchmarks/ingestion.py --rows 1000000 --files 20

Both run in their own process on the same generated files (about 5 % duplicate rows spread
across files); the script checks that both keep the same distinct rows and prints wall time and
peak RSS of each. The last line is one JSON object with speedup (naive wall / ours) and
memory_ratio (our peak RSS / naive peak RSS).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from generated import CACHE, dataset
from measure import run_measured

NAIVE = """
import sys
from pathlib import Path
import pandas as pd
files = sorted(Path(sys.argv[1]).glob("*.csv"))
data = pd.concat([pd.read_csv(f) for f in files], ignore_index=True).drop_duplicates()
data.to_csv(Path(sys.argv[2]) / "finaldata.csv", index=False)
"""
OURS = """
import sys
from pathlib import Path
from utils.data.ingestion import ingest_files, list_input_files, write_ingestion
from utils.data.schema import DataSchema
schema = DataSchema("exited", ("lastmonth_activity", "lastyear_activity", "number_of_employees"),
                    ("corporation",))
write_ingestion(ingest_files(list_input_files(sys.argv[1]), schema), Path(sys.argv[2]))
"""


def measured(code: str, input_dir: Path, output_dir: Path) -> dict[str, float]:
    output_dir.mkdir(parents=True, exist_ok=True)
    _, seconds, peak = run_measured([sys.executable, "-c", code, str(input_dir), str(output_dir)])
    return {"seconds": seconds, "peak_rss_mib": peak}


def same_distinct_rows(first: Path, second: Path) -> bool:
    import pandas as pd

    a = pd.read_csv(first).sort_values(list(pd.read_csv(first, nrows=0).columns))
    b = pd.read_csv(second).sort_values(list(a.columns))
    return len(a) == len(b) and (a.to_numpy() == b.to_numpy()).all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in all files together")
    parser.add_argument("--files", type=int, default=20, help="number of CSV files")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each way, taken in turns; medians shown"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=CACHE,
        help="where generated data sets are kept between runs",
    )
    args = parser.parse_args()

    input_dir = dataset(args.rows, args.files, args.cache)
    runs: dict[str, list[dict[str, float]]] = {"naive": [], "ours": []}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        for number in range(args.repeat):
            for name, code in (("naive", NAIVE), ("ours", OURS)):
                runs[name].append(measured(code, input_dir, Path(scratch) / f"{name}{number}"))
        same = same_distinct_rows(
            Path(scratch) / "naive0" / "finaldata.csv", Path(scratch) / "ours0" / "finaldata.csv"
        )
    naive, ours = (
        {key: statistics.median(run[key] for run in runs[name]) for key in runs[name][0]}
        for name in ("naive", "ours")
    )
    print(f"{args.rows:,} rows in {args.files} files, median of {args.repeat} runs each")
    for name, result in (("naive", naive), ("ours", ours)):
        print(f"{name:6} {result['seconds']:7.2f} s {result['peak_rss_mib']:8.0f} MiB peak RSS")
    print(
        json.dumps(
            {
                "speedup": round(naive["seconds"] / ours["seconds"], 2),
                "memory_ratio": round(ours["peak_rss_mib"] / naive["peak_rss_mib"], 2),
                "same_rows": bool(same),
                "naive_s": round(naive["seconds"], 2),
                "ours_s": round(ours["seconds"], 2),
                "naive_peak_mib": round(naive["peak_rss_mib"]),
                "ours_peak_mib": round(ours["peak_rss_mib"]),
                "rows": args.rows,
                "files": args.files,
                "runs": args.repeat,
            }
        )
    )


if __name__ == "__main__":
    main()

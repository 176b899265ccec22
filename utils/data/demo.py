"""Deterministic generator of data sets in the course's schema.

Customers with low recent activity tend to leave (``exited`` = 1). A ``shift`` between 0 and 1
moves that relationship toward another one, in which small companies leave whatever their
activity (1: fully moved). That is how the shipped ``sourcedata`` differs from ``practicedata``:
a model trained on the latter scores clearly worse on the former.

    python -m utils.data.demo demo --data-dir 01_data
    python -m utils.data.demo generate --out-dir /tmp/big --rows 10000000 --files 20
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from utils.files import atomic_write

log = logging.getLogger(__name__)

COLUMNS = [
    "corporation",
    "lastmonth_activity",
    "lastyear_activity",
    "number_of_employees",
    "exited",
]
_ID_LETTERS = 6
# Coefficients of the true model on standardised features, and its intercept.
_WEIGHTS = np.array([-2.2, -0.8, 0.9])
# The shifted relationship: activity no longer matters, company size does, the other way round.
_SHIFTED_WEIGHTS = np.array([-0.3, 0.0, -3.0])
_INTERCEPT = -0.3
_CENTRES = np.array([220.0, 2400.0, 60.0])
_SCALES = np.array([180.0, 1700.0, 80.0])


def _ids(rng: np.random.Generator, rows: int) -> np.ndarray:
    letters = rng.integers(ord("a"), ord("z") + 1, size=(rows, _ID_LETTERS), dtype=np.uint8)
    return letters.view(f"S{_ID_LETTERS}").ravel().astype(str)


def generate_rows(rows: int, seed: int, shift: float = 0.0, activity: float = 1.0) -> pd.DataFrame:
    """``rows`` distinct-by-construction customers; ``shift`` in [0, 1] moves the relationship;
    ``activity`` scales how active they are (a covariate shift: same relationship, other
    inputs)."""
    rng = np.random.default_rng(seed)
    lastmonth = rng.gamma(shape=1.5, scale=150.0 * activity, size=rows).round()
    lastyear = (lastmonth * 8 + rng.gamma(shape=2.0, scale=600.0, size=rows)).round()
    employees = np.maximum(rng.lognormal(mean=3.3, sigma=1.1, size=rows).round(), 1)
    standardised = (np.column_stack([lastmonth, lastyear, employees]) - _CENTRES) / _SCALES
    weights = (1.0 - shift) * _WEIGHTS + shift * _SHIFTED_WEIGHTS
    probability = 1.0 / (1.0 + np.exp(-(_INTERCEPT + standardised @ weights)))
    exited = (rng.random(rows) < probability).astype(np.int64)
    return pd.DataFrame(
        {
            "corporation": _ids(rng, rows),
            "lastmonth_activity": lastmonth.astype(np.int64),
            "lastyear_activity": lastyear.astype(np.int64),
            "number_of_employees": employees.astype(np.int64),
            "exited": exited,
        }
    )


def generate_files(
    rows: int, files: int, seed: int, shift: float = 0.0, duplicate_fraction: float = 0.0
) -> list[pd.DataFrame]:
    """``rows`` rows split over ``files`` frames; ``duplicate_fraction`` of them repeat others.

    Duplicates are copies of rows that also appear elsewhere, spread across the files, so that
    deduplication has cross-file work to do.
    """
    if files < 1 or rows < files:
        raise ValueError("need at least one file and at least one row per file")
    duplicates = int(round(rows * duplicate_fraction))
    unique = generate_rows(rows - duplicates, seed, shift)
    rng = np.random.default_rng(seed + 1)
    copies = unique.iloc[rng.integers(0, len(unique), size=duplicates)]
    combined = pd.concat([unique, copies], ignore_index=True)
    order = rng.permutation(len(combined))
    return [combined.iloc[part].reset_index(drop=True) for part in np.array_split(order, files)]


def write_files(
    frames: list[pd.DataFrame], out_dir: Path, prefix: str, start: int = 1
) -> list[Path]:
    out_dir = Path(out_dir)
    paths = []
    for number, frame in enumerate(frames, start=start):
        path = out_dir / f"{prefix}{number}.csv"
        atomic_write(path, lambda tmp, frame=frame: frame.to_csv(tmp, index=False))
        paths.append(path)
    return paths


def write_demo(data_dir: Path, seed: int = 42) -> list[Path]:
    """The shipped demo: practicedata (with duplicates), shifted sourcedata, testdata, and the
    live-monitoring demo files."""
    data_dir = Path(data_dir)
    practice = generate_files(600, 2, seed, duplicate_fraction=0.1)
    source = generate_files(800, 2, seed + 100, shift=1.0)
    test = generate_rows(200, seed + 200)
    test_path = data_dir / "testdata" / "testdata.csv"
    atomic_write(test_path, lambda tmp: test.to_csv(tmp, index=False))
    return [
        *write_files(practice, data_dir / "practicedata", "dataset", 1),
        *write_files(source, data_dir / "sourcedata", "dataset", 3),
        test_path,
        *write_monitoring_demo(data_dir, seed),
    ]


def write_monitoring_demo(data_dir: Path, seed: int = 42) -> list[Path]:
    """The live-monitoring demos: an unlabelled batch of more active customers (covariate
    shift: the estimate sees F1 fall before any label), and the labels of the shipped
    sourcedata (changed relationship: its inputs look as usual, only the labels reveal it)."""
    folder = Path(data_dir) / "monitoring_demo"
    shifted = generate_rows(10_000, seed + 300, activity=3.0).drop(columns=["exited"])
    source = pd.concat(generate_files(800, 2, seed + 100, shift=1.0), ignore_index=True)
    labels = source[["corporation", "exited"]]
    written = []
    for path, frame in (
        (folder / "covariate_shift.csv", shifted),
        (folder / "labels" / "sourcedata_labels.csv", labels),
    ):
        atomic_write(path, lambda tmp, frame=frame: frame.to_csv(tmp, index=False))
        written.append(path)
    return written


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="write the shipped demo data sets")
    demo.add_argument("--data-dir", type=Path, default=Path("01_data"), help="where to write")
    demo.add_argument("--seed", type=int, default=42, help="random seed")
    gen = commands.add_parser("generate", help="write one set of CSV files")
    gen.add_argument("--out-dir", type=Path, required=True, help="folder for the CSV files")
    gen.add_argument("--rows", type=int, required=True, help="rows in all files together")
    gen.add_argument("--files", type=int, default=1, help="number of CSV files")
    gen.add_argument("--seed", type=int, default=0, help="random seed")
    gen.add_argument("--shift", type=float, default=0.0, help="0 = course relation, 1 = shifted")
    gen.add_argument("--duplicates", type=float, default=0.0, help="fraction of duplicate rows")
    gen.add_argument("--prefix", default="dataset", help="file name prefix")
    return parser.parse_args()


if __name__ == "__main__":
    from utils.runtime.logs import configure_logging

    configure_logging()
    args = _parse_args()
    if args.command == "demo":
        written = write_demo(args.data_dir, args.seed)
    else:
        frames = generate_files(args.rows, args.files, args.seed, args.shift, args.duplicates)
        written = write_files(frames, args.out_dir, args.prefix)
    log.info("wrote %d files: %s", len(written), ", ".join(str(p) for p in written))

"""Ingestion: read every CSV of a folder, validate, concatenate and drop duplicate rows.

Files are read by ``utils.data.schema.read_files`` (Polars, with pandas judging any file Polars
refuses, so the contract is pandas' own); duplicates are found from row hashes sorted on
every core, with an exact comparison of the rows whose hashes meet; the kept rows are written
by Polars' multi-threaded CSV writer.

Order of ``finaldata.csv``: the files in the order given, each file's rows in file order, and
of equal rows only the first. Equal means equal values: 3, 3.0 and 3e0 are one value, and an
empty cell, NaN and pandas' other markers (NA, NULL, ...) are all a missing value. Id columns
are text, kept as written. A feature column is written as integers when all its values are
whole numbers, as decimals otherwise; a missing value is an empty cell.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from utils import layout
from utils.data.schema import DataSchema, read_files
from utils.errors import PipelineError
from utils.files import data_files_in, sha256_file

if TYPE_CHECKING:
    import numpy as np
    import polars as pl


log = logging.getLogger(__name__)

FINALDATA_NAME = layout.FINALDATA
FINALDATA_FILES = layout.FINALDATA_FILES
INGESTED_FILES_NAME = layout.INGESTED_FILES
# Earlier ingestions kept beside the current one (they are small next to what they allow:
# looking at the data an earlier model was trained on).
KEEP_INGESTIONS = 2
# Rows written per slice: bounds the extra memory of writing to one slice's kept rows.
_WRITE_SLICE_ROWS = 1_000_000
NO_DATA_FILES = "no *.csv or *.parquet files in the input folder"
NO_LABELLED_FILE = "no labelled data file to ingest (every one lacks the target column)"
# Integers beyond 2**53 are not exact in a float64, so such a column stays decimal.
_EXACT_FLOAT_INT = 2**53


@dataclass(frozen=True)
class FileRecord:
    name: str
    sha256: str
    rows_read: int
    rows_kept: int

    @property
    def rows_dropped(self) -> int:
        return self.rows_read - self.rows_kept


@dataclass(frozen=True)
class IngestionResult:
    """Every row read (all files, concatenated) and which of them are kept.

    The kept rows are not copied out: writing filters one slice at a time.
    """

    rows_read: pl.DataFrame
    keep: np.ndarray
    files: list[FileRecord]
    # Feature columns written as integers (see integer_columns).
    integer_columns: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return int(self.keep.sum())

    def distinct_rows(self) -> pl.DataFrame:
        """The kept rows as one frame, in the order finaldata.csv has them."""
        import polars as pl

        return as_written(self.rows_read.filter(pl.Series(self.keep)), self.integer_columns)

    def summary(self) -> dict[str, object]:
        return ingestion_summary(self.files, self.rows)


def ingestion_summary(files: list[FileRecord], rows: int) -> dict[str, object]:
    """What an ingestion recorded, as JSON-able values (either engine)."""
    return {"files": [asdict(record) for record in files], "rows": rows}


def list_data_files(input_dir: Path) -> list[Path]:
    """The data files (CSV and Parquet) of ``input_dir`` in a stable (sorted by name) order."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise PipelineError(f"{input_dir}: input folder not found")
    files = data_files_in(input_dir)
    if not files:
        raise PipelineError(f"{input_dir}: {NO_DATA_FILES}")
    return files


def list_input_files(input_dirs: str | Path) -> list[Path]:
    """The data files of one folder, or of a comma-separated list of folders, in that order."""
    parts = [p.strip() for p in str(input_dirs).split(",") if p.strip()]
    if not parts:
        raise PipelineError("input_dir: no input folder given")
    return [path for part in parts for path in list_data_files(Path(part))]


def first_occurrences(data: pl.DataFrame) -> np.ndarray:
    """A mask of the rows of ``data`` that equal no earlier row (NaN and null count as equal).

    Rows are reduced to 64-bit hashes whose high bits, with the row position in the low bits,
    are sorted in one multi-threaded sort: equal rows end up adjacent, earliest first. Only the
    rows whose truncated hash repeats are compared in full, so the result is exact.
    """
    import numpy as np
    import polars as pl

    n = data.height
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    position_bits = max(1, (n - 1).bit_length())
    shift = np.uint64(position_bits)
    keys = data.select(pl.struct(pl.all()).hash()).to_series().to_numpy(writable=True)
    # Truncated hash in the high bits, row position in the low ones; in place, as at ten
    # million rows each temporary array is 80 MB.
    keys >>= shift
    keys <<= shift
    keys |= np.arange(n, dtype=np.uint64)
    # Polars sorts on every core; numpy's sort is single-threaded.
    keys = pl.Series(keys).sort().to_numpy()
    positions = (keys & np.uint64((1 << position_bits) - 1)).view(np.int64)
    # A bucket starts where the high bits change.
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.greater_equal(keys[1:] ^ keys[:-1], np.uint64(1 << position_bits), out=starts[1:])
    del keys
    keep[positions[starts]] = True
    # A bucket of one row is a distinct row; rows of larger buckets get the exact comparison.
    alone = starts & np.append(starts[1:], True)
    shared = np.sort(positions[~alone])
    del positions, starts, alone
    if shared.size:
        exact = data[shared].select(pl.struct(pl.all()).is_first_distinct()).to_series()
        keep[shared] = exact.to_numpy()
    return keep


def without_unlabelled(files: list[Path], schema: DataSchema) -> list[Path]:
    """``files`` less those that have every feature but no target column: unlabelled batches,
    which fullprocess.py monitors and nothing trains on (said once in the log)."""
    from utils.data.headers import column_names

    kept = []
    for path in files:
        header = set(column_names(path))
        if schema.target not in header and set(schema.features) <= header:
            log.warning(
                "%s: no %r column, an unlabelled batch: monitored, not ingested",
                path.name,
                schema.target,
            )
            continue
        kept.append(path)
    return kept


def ingest_files(files: list[Path], schema: DataSchema) -> IngestionResult:
    """Read and validate ``files`` (unlabelled batches left out) and mark duplicate rows
    across all of them."""
    import numpy as np
    import polars as pl

    files = without_unlabelled(files, schema)
    if not files:
        raise PipelineError(NO_LABELLED_FILE)
    # Hashing the files overlaps with parsing them (hashlib lets go of the GIL).
    with ThreadPoolExecutor(max_workers=1) as pool:
        digests = pool.map(sha256_file, files)
        frames = read_files(files, schema)
        digests = list(digests)
    rows_read = [frame.height for frame in frames]
    data = pl.concat(frames, rechunk=False)
    del frames
    keep = first_occurrences(data)
    origin = np.repeat(np.arange(len(files)), rows_read)
    kept = np.bincount(origin[keep], minlength=len(files))
    records = [
        FileRecord(path.name, digest, read, int(rows_kept))
        for path, digest, read, rows_kept in zip(files, digests, rows_read, kept, strict=True)
    ]
    log_records(records)
    return IngestionResult(data, keep, records, integer_columns(data, schema.features))


def log_records(records: list[FileRecord]) -> None:
    """One line per ingested file: rows read, kept and dropped (either engine)."""
    for record in records:
        log.info(
            "%s: %d rows read, %d kept, %d dropped as duplicates",
            record.name,
            record.rows_read,
            record.rows_kept,
            record.rows_dropped,
        )


def integer_columns(data: pl.DataFrame, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The ``columns`` whose values are all whole numbers (missing ones aside)."""
    import polars as pl

    decimal = [col for col in columns if data.schema[col] != pl.Int64]
    whole = {col for col in columns if col not in decimal}
    if decimal:
        checks = data.select(
            (
                (pl.col(col) == pl.col(col).round()).all()
                & (pl.col(col).abs().max().fill_null(0) < _EXACT_FLOAT_INT)
            ).alias(col)
            for col in decimal
        ).row(0)
        whole |= {col for col, is_whole in zip(decimal, checks, strict=True) if is_whole}
    return tuple(col for col in columns if col in whole)


def as_written(part: pl.DataFrame, integer_columns: tuple[str, ...]) -> pl.DataFrame:
    import polars as pl

    return part.with_columns(pl.col(integer_columns).cast(pl.Int64)) if integer_columns else part


def write_distinct_csv(result: IngestionResult, path: Path) -> None:
    """Write the kept rows to ``path``, one slice of the rows read at a time (ids that a
    spreadsheet would run as a formula quoted: utils.data.cells)."""
    import polars as pl

    from utils.data.cells import inert_text_columns

    total = result.rows_read.height
    with open(path, "wb") as handle:
        for start in range(0, max(total, 1), _WRITE_SLICE_ROWS):
            part = result.rows_read.slice(start, _WRITE_SLICE_ROWS)
            part = part.filter(pl.Series(result.keep[start : start + _WRITE_SLICE_ROWS]))
            text = inert_text_columns(as_written(part, result.integer_columns))
            text.write_csv(handle, include_header=start == 0)


def write_distinct_parquet(result: IngestionResult, path: Path) -> None:
    """Write the kept rows to ``path`` as Parquet, one row group per slice of the rows read,
    with the types finaldata.csv would be read back with (integer columns as integers)."""
    import polars as pl
    import pyarrow.parquet as pq

    columns = as_written(result.rows_read.head(0), result.integer_columns).to_arrow().schema
    with pq.ParquetWriter(path, columns) as writer:
        for start in range(0, result.rows_read.height, _WRITE_SLICE_ROWS):
            part = result.rows_read.slice(start, _WRITE_SLICE_ROWS)
            part = part.filter(pl.Series(result.keep[start : start + _WRITE_SLICE_ROWS]))
            if part.height:
                writer.write_table(as_written(part, result.integer_columns).to_arrow())


def write_ingestion(
    result: IngestionResult, output_dir: Path, finaldata_format: str = "csv"
) -> tuple[Path, Path]:
    """Publish finaldata (CSV or Parquet) and the list of ingested files (see
    publish_ingestion)."""
    write = write_distinct_parquet if finaldata_format == "parquet" else write_distinct_csv
    return publish_ingestion(
        lambda path: write(result, path),
        [record.name for record in result.files],
        result.rows,
        output_dir,
        FINALDATA_FILES[finaldata_format],
    )


def publish_ingestion(
    write_finaldata: Callable[[Path], object],
    names: list[str],
    rows: int,
    output_dir: Path,
    finaldata_name: str = FINALDATA_NAME,
) -> tuple[Path, Path]:
    """Publish the ingested data (written by ``write_finaldata`` to the path it is given, as
    ``finaldata_name``) and the list of ingested files together, in one atomic swap.

    ``output_dir`` becomes a link to a release folder (as production_deployment is), so a
    reader, or a process killed half-way, never sees the data of one ingestion with the file
    list of another.
    """
    from utils.model.deployment import deploy

    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.staging-", dir=output_dir.parent))
    try:
        write_finaldata(staging / finaldata_name)
        (staging / INGESTED_FILES_NAME).write_text(
            "".join(f"{name}\n" for name in names), encoding="utf-8"
        )
        deploy(
            {
                finaldata_name: staging / finaldata_name,
                INGESTED_FILES_NAME: staging / INGESTED_FILES_NAME,
            },
            output_dir,
            {"rows": rows},
            keep=KEEP_INGESTIONS,
            move=True,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output_dir / finaldata_name, output_dir / INGESTED_FILES_NAME


def ingestion_with_data(ingested_dir: Path, finaldata_sha256: str | None) -> Path | None:
    """The finaldata (CSV or Parquet) of the kept ingestion whose content has
    ``finaldata_sha256`` (the data a model was trained on), from the manifests, without
    reading any data."""
    import json

    from utils.model.deployment import MANIFEST_NAME, releases_dir

    releases = releases_dir(Path(ingested_dir))
    if not finaldata_sha256 or not releases.is_dir():
        return None
    for release in sorted(releases.iterdir(), key=lambda p: p.name, reverse=True):
        try:
            manifest = json.loads((release / MANIFEST_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        files = manifest.get("files", {})
        for name in FINALDATA_FILES.values():
            if files.get(name) == finaldata_sha256:
                return release / name
    return None


def read_ingested_files(path: Path) -> list[str]:
    """The file names recorded by an earlier ingestion (empty if there was none)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

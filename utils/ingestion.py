"""Ingestion: read every CSV of a folder, validate, concatenate and drop duplicate rows."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from utils.errors import PipelineError
from utils.files import sha256_file
from utils.schema import DataSchema, read_dataset

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

FINALDATA_NAME = "finaldata.csv"
INGESTED_FILES_NAME = "ingestedfiles.txt"
# Earlier ingestions kept beside the current one (they are small next to what they allow:
# looking at the data an earlier model was trained on).
KEEP_INGESTIONS = 2


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
    data: pd.DataFrame
    files: list[FileRecord]

    def summary(self) -> dict[str, object]:
        return {"files": [asdict(record) for record in self.files], "rows": len(self.data)}


def list_csv_files(input_dir: Path) -> list[Path]:
    """The CSV files of ``input_dir`` in a stable (sorted by name) order."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise PipelineError(f"{input_dir}: input folder not found")
    files = sorted(p for p in input_dir.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    if not files:
        raise PipelineError(f"{input_dir}: no *.csv files in the input folder")
    return files


def list_input_files(input_dirs: str | Path) -> list[Path]:
    """The CSV files of one folder, or of a comma-separated list of folders, in that order."""
    parts = [p.strip() for p in str(input_dirs).split(",") if p.strip()]
    if not parts:
        raise PipelineError("input_dir: no input folder given")
    return [path for part in parts for path in list_csv_files(Path(part))]


def deduplicate(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, list[int]]:
    """Concatenate ``frames`` and keep each distinct row once, at its first appearance.

    Returns the distinct rows and, per frame, how many of them that frame contributed.
    ``frames`` is emptied once concatenated, so that the pieces can be freed early.
    """
    import numpy as np
    import pandas as pd

    combined = pd.concat(frames, ignore_index=True)
    origin = np.repeat(np.arange(len(frames)), [len(frame) for frame in frames])
    frames.clear()
    # Comparing whole rows is slow; comparing 64-bit row hashes is not. Equal rows have equal
    # hashes, so only rows whose hash repeats need the exact comparison, which stays exact.
    hashes = pd.util.hash_pandas_object(combined, index=False)
    candidates = hashes.duplicated(keep=False).to_numpy()
    first_seen = np.ones(len(combined), dtype=bool)
    if candidates.any():
        first_seen[candidates] = ~combined[candidates].duplicated(keep="first").to_numpy()
    kept = np.bincount(origin[first_seen], minlength=len(frames))
    return combined[first_seen].reset_index(drop=True), [int(n) for n in kept]


def ingest_files(files: list[Path], schema: DataSchema) -> IngestionResult:
    """Read and validate ``files`` and drop duplicate rows across all of them."""
    frames = [read_dataset(path, schema) for path in files]
    rows_read = [len(frame) for frame in frames]
    data, kept = deduplicate(frames)
    records = [
        FileRecord(path.name, sha256_file(path), read, rows_kept)
        for path, read, rows_kept in zip(files, rows_read, kept, strict=True)
    ]
    for record in records:
        log.info(
            "%s: %d rows read, %d kept, %d dropped as duplicates",
            record.name,
            record.rows_read,
            record.rows_kept,
            record.rows_dropped,
        )
    return IngestionResult(data, records)


def write_csv(data: pd.DataFrame, path: Path) -> None:
    """pyarrow's CSV writer: several times faster than DataFrame.to_csv, same values."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    table = pa.Table.from_pandas(data, preserve_index=False)
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="needed"))


def write_ingestion(result: IngestionResult, output_dir: Path) -> tuple[Path, Path]:
    """Publish finaldata.csv and the list of ingested files together, in one atomic swap.

    ``output_dir`` becomes a link to a release folder (as production_deployment is), so a
    reader, or a process killed half-way, never sees the data of one ingestion with the file
    list of another.
    """
    from utils.deployment import deploy

    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.staging-", dir=output_dir.parent))
    try:
        write_csv(result.data, staging / FINALDATA_NAME)
        names = "".join(f"{record.name}\n" for record in result.files)
        (staging / INGESTED_FILES_NAME).write_text(names, encoding="utf-8")
        deploy(
            {
                FINALDATA_NAME: staging / FINALDATA_NAME,
                INGESTED_FILES_NAME: staging / INGESTED_FILES_NAME,
            },
            output_dir,
            {"rows": len(result.data)},
            keep=KEEP_INGESTIONS,
            move=True,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output_dir / FINALDATA_NAME, output_dir / INGESTED_FILES_NAME


def read_ingested_files(path: Path) -> list[str]:
    """The file names recorded by an earlier ingestion (empty if there was none)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

"""Step data_ingestion: every data file of the input folders, validated, deduplicated,
recorded."""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict
from pathlib import Path

from utils.data.ingestion import FINALDATA_FILES, ingestion_summary
from utils.data.schema import DataSchema
from utils.engines.base import EngineSettings
from utils.engines.choose import engine_for
from utils.model.tracking import StepRun
from utils.runtime.cli import (
    add_engine_arguments,
    add_schema_arguments,
    add_store_argument,
    engine_from_args,
    run_entry_point,
    schema_from_args,
)
from utils.store.history import MonitoringStore

log = logging.getLogger("data_ingestion")


def run(
    input_dir: str,
    output_dir: Path,
    schema: DataSchema,
    store_url: str,
    engine: EngineSettings | None = None,
    finaldata_format: str = "csv",
) -> None:
    started = time.perf_counter()
    with StepRun() as tracking:
        # Everything is read and checked, and the store reached, before anything is written.
        ingested_data = engine_for(engine or EngineSettings()).ingest(
            input_dir, schema, finaldata_format
        )
        files, rows = ingested_data.files, ingested_data.rows
        store = MonitoringStore(store_url)
        finaldata, ingested = ingested_data.publish(output_dir)
        store.record_ingestion(
            [asdict(record) for record in files], str(input_dir), rows, tracking.run_id
        )
        rows_read = sum(record.rows_read for record in files)
        tracking.log_metrics(
            {
                "files": len(files),
                "rows_read": rows_read,
                "rows_kept": rows,
                "rows_dropped": rows_read - rows,
                "duration_s": time.perf_counter() - started,
            }
        )
        tracking.log_dict(ingestion_summary(files, rows), "ingestion.json")
        tracking.log_artifact(ingested)
    log.info("wrote %s (%d rows) and %s", finaldata, rows, ingested)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--input_dir",
        required=True,
        help="folder of CSV and Parquet files to ingest, or a comma list of folders",
    )
    parser.add_argument(
        "--output_dir", type=Path, required=True, help="folder for finaldata and the file list"
    )
    parser.add_argument(
        "--finaldata_format",
        choices=tuple(FINALDATA_FILES),
        default="csv",
        help="finaldata.csv (csv) or finaldata.parquet (parquet)",
    )
    add_schema_arguments(parser)
    add_store_argument(parser)
    add_engine_arguments(parser)
    return parser.parse_args()


if __name__ == "__main__":
    args = _parse_args()
    run_entry_point(
        "data_ingestion",
        lambda: run(
            args.input_dir,
            args.output_dir,
            schema_from_args(args),
            args.store_url,
            engine_from_args(args),
            args.finaldata_format,
        ),
    )

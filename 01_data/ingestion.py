"""Step data_ingestion: every CSV of the input folder, validated, deduplicated, recorded."""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict
from pathlib import Path

from utils.cli import add_schema_arguments, add_store_argument, run_entry_point, schema_from_args
from utils.ingestion import ingest_files, list_input_files, write_ingestion
from utils.schema import DataSchema
from utils.store import MonitoringStore
from utils.tracking import StepRun

log = logging.getLogger("data_ingestion")


def run(input_dir: Path, output_dir: Path, schema: DataSchema, store_url: str) -> None:
    started = time.perf_counter()
    with StepRun() as tracking:
        # Everything is read and validated before anything is written.
        result = ingest_files(list_input_files(input_dir), schema)
        store = MonitoringStore(store_url)
        finaldata, ingested = write_ingestion(result, output_dir)
        store.record_ingestion(
            [asdict(record) for record in result.files],
            str(input_dir),
            result.rows,
            tracking.run_id,
        )
        rows_read = sum(record.rows_read for record in result.files)
        tracking.log_metrics(
            {
                "files": len(result.files),
                "rows_read": rows_read,
                "rows_kept": result.rows,
                "rows_dropped": rows_read - result.rows,
                "duration_s": time.perf_counter() - started,
            }
        )
        tracking.log_dict(result.summary(), "ingestion.json")
        tracking.log_artifact(ingested)
    log.info("wrote %s (%d rows) and %s", finaldata, result.rows, ingested)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--input_dir", required=True, help="folder of CSV files to ingest (or a comma list)"
    )
    parser.add_argument("--output_dir", type=Path, required=True, help="folder for finaldata.csv")
    add_schema_arguments(parser)
    add_store_argument(parser)
    return parser.parse_args()


if __name__ == "__main__":
    args = _parse_args()
    run_entry_point(
        "data_ingestion",
        lambda: run(args.input_dir, args.output_dir, schema_from_args(args), args.store_url),
    )

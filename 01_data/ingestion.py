"""Step data_ingestion: every data file of the input folders, validated, deduplicated,
recorded."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from utils.data.ingestion import ingestion_summary
from utils.engines.base import EngineSettings
from utils.engines.choose import engine_for
from utils.model.tracking import StepRun
from utils.runtime.steps import IngestionParams, run_step
from utils.store.history import MonitoringStore

log = logging.getLogger("data_ingestion")


def run(p: IngestionParams) -> None:
    started = time.perf_counter()
    with StepRun() as tracking:
        # Everything is read and checked, and the store reached, before anything is written.
        ingested_data = engine_for(p.engine_settings or EngineSettings()).ingest(
            p.input_dir, p.schema, p.finaldata_format
        )
        files, rows = ingested_data.files, ingested_data.rows
        store = MonitoringStore(p.store_url)
        finaldata, ingested = ingested_data.publish(p.output_dir)
        store.record_ingestion(
            [asdict(record) for record in files], str(p.input_dir), rows, tracking.run_id
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


if __name__ == "__main__":
    run_step(IngestionParams, run)

"""Step model_scoring: F1 (and precision, recall, ROC AUC) of the trained model on test data."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from utils.engines.choose import engine_for
from utils.model.scoring import write_score
from utils.model.tracking import StepRun
from utils.runtime.steps import ScoringParams, run_step
from utils.store.history import MonitoringStore

log = logging.getLogger("model_scoring")


def run(p: ScoringParams) -> None:
    started = time.perf_counter()
    with StepRun() as tracking:
        metrics, model_uri = engine_for(p.engine_settings).test_metrics(
            p.model_dir, p.test_data, p.schema
        )
        store = MonitoringStore(p.store_url)
        score_path = write_score(metrics["f1"], p.model_dir)
        store.record_scoring(
            Path(p.test_data).name, metrics, model_uri=model_uri, mlflow_run_id=tracking.run_id
        )
        tracking.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)})
        tracking.log_metrics({"duration_s": time.perf_counter() - started})
        tracking.log_artifact(score_path)
    log.info("F1 %.4f on %s; wrote %s", metrics["f1"], p.test_data, score_path)


if __name__ == "__main__":
    run_step(ScoringParams, run)

"""Step model_training: a logistic regression on the ingested data, as a pickle and in MLflow."""

from __future__ import annotations

import logging
import time

import mlflow
import mlflow.sklearn
from mlflow.models import infer_signature

from utils.data.schema import read_dataset
from utils.files import sha256_file
from utils.model.tracking import StepRun, model_pip_requirements
from utils.model.training import (
    model_metadata,
    save_model,
    train_model,
    uniform_sample,
)
from utils.runtime.steps import TrainingParams, run_step
from utils.store.history import MonitoringStore

log = logging.getLogger("model_training")

INPUT_EXAMPLE_ROWS = 5
# skops (MLflow's safe default format) refuses unknown types on load; a dtype object is data.
SKOPS_TRUSTED_TYPES = ["numpy.dtype"]


def run(p: TrainingParams) -> None:
    started = time.perf_counter()
    data = read_dataset(p.finaldata, p.schema, ids=False)
    available = len(data)
    data = uniform_sample(data, (p.max_rows or None), p.model_params.random_state)
    if len(data) < available:
        log.info("training on a uniform sample of %d of the %d rows", len(data), available)
    model = train_model(data, p.schema, p.model_params)
    metadata = model_metadata(p.schema, p.model_params, len(data), sha256_file(p.finaldata))
    store = MonitoringStore(p.store_url)
    features = data[list(p.schema.features)]
    # Declared as doubles so that a request with a missing value still matches the signature
    # (the pipeline imputes it).
    example = features.head(INPUT_EXAMPLE_ROWS).astype("float64")
    with StepRun() as tracking:
        run = tracking.mlflow_run()
        logged = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            pip_requirements=model_pip_requirements(),
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )
        metadata["mlflow_run_id"] = run.info.run_id
        metadata["mlflow_model_uri"] = logged.model_uri
        model_path = save_model(model, metadata, p.model_dir)
        store.record_training(
            logged.model_uri,
            metadata["training_data_sha256"],
            len(data),
            metadata["params"],
            run.info.run_id,
        )
        tracking.log_metrics(
            {
                "training_rows": len(data),
                "train_accuracy": float(model.score(features, data[p.schema.target])),
                "duration_s": time.perf_counter() - started,
            }
        )
        tracking.log_dict(metadata, "trainedmodel.json")
    log.info("trained on %d rows; wrote %s (MLflow %s)", len(data), model_path, logged.model_uri)


if __name__ == "__main__":
    run_step(TrainingParams, run)

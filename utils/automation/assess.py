"""The automation's read and assess phases: which source files are new, and how the deployed
model and its training data compare with them (score drift and data drift)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.automation.sources import (
    HashCache,
    SourceFile,
    new_files,
    source_files,
    split_by_label,
)
from utils.config import PipelineConfig
from utils.layout import INGESTED_FILES, Layout

log = logging.getLogger(__name__)


def find_new_files(
    config: PipelineConfig, root: Path, store, save_cache: bool = True
) -> tuple[list[SourceFile], list[SourceFile]]:
    """The cheap check: hashes of the source files against what is deployed and decided. A dry
    run does not save the hash cache (it changes nothing). Returns the new labelled files and
    every unlabelled one (no target column: monitored, never trained on)."""
    from utils.data.ingestion import read_ingested_files

    layout = Layout.from_config(config, root)
    cache = HashCache(root / config.automation.hash_cache)
    sources = [
        found
        for folder in (config.automation.source_dir, config.monitoring.labelled_traffic_dir)
        for found in source_files(root / folder, cache)
    ]
    if save_cache:
        cache.save()
    labelled, unlabelled = split_by_label(sources, config.data.target)
    deployed = read_ingested_files(layout.deployment_dir / INGESTED_FILES)
    fresh = new_files(labelled, deployed, store.ingested_file_hashes(), store.decided_files())
    return fresh, unlabelled


def drift_reference(layout: Layout, manifest: dict) -> Path:
    """The data the deployed model was trained on, as data drift's reference; the current
    finaldata (with a warning) when that ingestion is no longer kept or the manifest predates
    the hash."""
    from utils.data.ingestion import ingestion_with_data

    trained_on = ingestion_with_data(layout.ingested_dir, manifest.get("training_data_sha256"))
    if trained_on is not None:
        return trained_on
    log.warning(
        "the data model v%s was trained on is no longer kept: data drift compares with %s",
        manifest.get("model_version"),
        layout.finaldata.name,
    )
    return layout.finaldata


@dataclass
class Assessment:
    """Score and data drift of the new files against the deployed model."""

    files: list[dict]
    names: str
    version: object
    new_data: Any = None
    metrics: dict | None = None
    score: Any = None  # utils.monitoring.drift.ScoreDrift
    data: Any = None  # utils.monitoring.drift.DataDrift
    joint: Any = None  # utils.monitoring.multivariate.MultivariateDrift (None: turned off)

    @property
    def data_drift(self) -> bool:
        """Data drift by the per-feature rule or in the joint distribution."""
        return bool(self.data and self.data.dataset_drift) or bool(
            self.joint and self.joint.drifted
        )

    def data_drift_event(self) -> dict:
        """The store's data_drift event: the per-feature checks and the multivariate one."""
        return {**self.data.as_dict(), "multivariate": self.joint and self.joint.as_dict()}

    def summary(self) -> str:
        text = f"new files: {self.names}; "
        if self.score is not None:
            text += (
                f"{'score drift' if self.score.drift else 'no score drift'} (F1 on new data "
                f"{self.score.new_f1:.4f}, threshold {self.score.threshold:.4f}, "
                f"{self.score.method}); {self.data.summary()}; "
            )
            if self.joint is not None:
                text += f"{self.joint.summary()}; "
        return text


def assess(config: PipelineConfig, root: Path, fresh: list[SourceFile], store) -> Assessment:
    """Read the deployed model and the new files; check score drift and data drift."""
    import pandas as pd

    from utils.data.schema import read_dataset
    from utils.model.deployment import load_deployed_model
    from utils.model.scoring import evaluate
    from utils.monitoring.drift import data_drift, score_drift
    from utils.monitoring.multivariate import configured_drift

    schema, layout = config.schema, Layout.from_config(config, root)
    model, manifest = load_deployed_model(layout.deployment_dir)
    assessment = Assessment(
        files=[{"name": f.name, "sha256": f.sha256} for f in fresh],
        names=", ".join(f.name for f in fresh) or "none",
        version=manifest.get("model_version"),
    )
    if not fresh:
        return assessment
    frames = [read_dataset(f.path, schema) for f in fresh]
    new_data = pd.concat(frames, ignore_index=True).drop_duplicates()
    metrics = evaluate(model, new_data, schema)
    history = [d["f1"] for d in store.deployment_history() if d["f1"] is not None]
    automation = config.automation
    score = score_drift(
        metrics["f1"],
        float(manifest.get("f1") or 0.0),
        history,
        automation.score_drift_method,
        automation.score_drift_k,
        automation.min_history,
    )
    reference = read_dataset(drift_reference(layout, manifest), schema)
    data = data_drift(reference, new_data, list(schema.features), **config.drift.univariate())
    # None when drift.multivariate is off.
    joint = configured_drift(
        reference, new_data, list(schema.features), config.drift.as_dict(), data
    )
    if score.note:
        log.info("%s", score.note)
    for feature in data.features:
        log.info("data drift %s", feature.describe(data.p_threshold, data.min_effect))
    for note in data.notes:
        log.warning("data drift: %s", note)
    assessment.new_data, assessment.metrics = new_data, metrics
    if joint is not None and joint.note:
        log.warning("multivariate drift: %s", joint.note)
    assessment.score, assessment.data, assessment.joint = score, data, joint
    return assessment


def open_store(config: PipelineConfig, root: Path):
    from utils.store.connection import store_url_for
    from utils.store.history import MonitoringStore

    return MonitoringStore(store_url_for(config.store.url, root))

"""Where every file of the project lives: the names, and one object that joins them to the
configured folders. Nothing else spells a file name or joins one to a folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FINALDATA = "finaldata.csv"
# The ingested data's file in each format (config paths.finaldata_format).
FINALDATA_FILES = {"csv": FINALDATA, "parquet": "finaldata.parquet"}
INGESTED_FILES = "ingestedfiles.txt"
MODEL = "trainedmodel.pkl"
# The same model in skops' format, which cannot run code when loaded: what the project loads.
MODEL_SKOPS = "trainedmodel.skops"
MODEL_METADATA = "trainedmodel.json"
SCORE = "latestscore.txt"
MANIFEST = "manifest.json"
DIAGNOSTICS = "diagnostics.json"
PREDICTIONS = "predictions.csv"
CONFUSION_MATRIX = "confusionmatrix.png"
REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"
API_RETURNS = "apireturns.txt"
MONITORING = "monitoring.json"
# The newest chunks' rows (features, probability, source): the report's distributions.
MONITORING_RECENT = "monitoring-recent.parquet"
# models/reports/v<version>/: each deployed version's report, kept.
REPORT_ARCHIVE = "reports"
# Beside the deployment link: the challenger's link (deployment.strategy: shadow), pointing
# into the same releases folder, so that promoting it is moving the deployment link there.
CHALLENGER_SUFFIX = ".challenger"


def challenger_link(deployment_dir: Path) -> Path:
    """Where the challenger of the deployment at ``deployment_dir`` is published."""
    deployment_dir = Path(deployment_dir)
    return deployment_dir.with_name(deployment_dir.name + CHALLENGER_SUFFIX)


@dataclass(frozen=True)
class Layout:
    """The project's folders (absolute) and the files in them."""

    root: Path
    ingested_dir: Path
    model_dir: Path
    deployment_dir: Path
    test_data: Path
    requirements: Path
    finaldata_format: str = "csv"

    @classmethod
    def from_config(cls, config: Any, root: Path) -> Layout:
        paths = config.paths

        def absolute(value: str) -> Path:
            # abspath, not resolve(): the deployment folder is a symlink that must stay one.
            return Path(os.path.abspath(Path(root) / value))

        return cls(
            root=Path(os.path.abspath(root)),
            ingested_dir=absolute(paths.ingested_dir),
            model_dir=absolute(paths.model_dir),
            deployment_dir=absolute(paths.deployment_dir),
            test_data=absolute(paths.test_data),
            requirements=absolute(paths.requirements),
            finaldata_format=paths.finaldata_format,
        )

    @property
    def finaldata(self) -> Path:
        return self.ingested_dir / FINALDATA_FILES[self.finaldata_format]

    @property
    def ingested_files(self) -> Path:
        return self.ingested_dir / INGESTED_FILES

    @property
    def model(self) -> Path:
        return self.model_dir / MODEL

    @property
    def score(self) -> Path:
        return self.model_dir / SCORE

    @property
    def diagnostics(self) -> Path:
        return self.model_dir / DIAGNOSTICS

    @property
    def predictions(self) -> Path:
        return self.model_dir / PREDICTIONS

    @property
    def report_html(self) -> Path:
        return self.model_dir / REPORT_HTML

    @property
    def report_pdf(self) -> Path:
        return self.model_dir / REPORT_PDF

    @property
    def confusion_matrix(self) -> Path:
        return self.model_dir / CONFUSION_MATRIX

    @property
    def api_returns(self) -> Path:
        return self.model_dir / API_RETURNS

    @property
    def monitoring(self) -> Path:
        return self.model_dir / MONITORING

    @property
    def monitoring_recent(self) -> Path:
        return self.model_dir / MONITORING_RECENT

    @property
    def report_archive(self) -> Path:
        return self.model_dir / REPORT_ARCHIVE

    @property
    def challenger_dir(self) -> Path:
        return challenger_link(self.deployment_dir)

    def outputs(self) -> list[tuple[str, Path]]:
        """What a pipeline run leaves, in the order of the steps, for people."""
        return [
            ("ingested data", self.finaldata),
            ("ingested files", self.ingested_files),
            ("trained model", self.model),
            ("test F1", self.score),
            ("live deployment", self.deployment_dir),
            ("challenger (shadow)", self.challenger_dir),
            ("diagnostics", self.diagnostics),
            ("predictions", self.predictions),
            ("report (HTML)", self.report_html),
            ("report (PDF)", self.report_pdf),
            ("confusion matrix", self.confusion_matrix),
            ("API answers", self.api_returns),
            ("live monitoring", self.monitoring),
            ("reports per version", self.report_archive),
        ]

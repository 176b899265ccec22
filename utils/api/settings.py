"""The scoring API's settings: everything a worker needs, with absolute paths, built from
config.yaml by the entry points or read from a file another process wrote."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ApiSettings:
    """Everything the API needs, with absolute paths; built from config.yaml by the entry points."""

    deployment_dir: str
    model_dir: str
    finaldata: str
    test_data: str
    data_dir: str
    target: str
    features: list[str]
    id_columns: list[str] = field(default_factory=list)
    max_rows: int = 10_000
    max_body_bytes: int = 10 * 1024 * 1024
    # Request-body bytes one worker holds at once (api.max_uploads_mb).
    max_upload_bytes: int = 64 * 1024 * 1024
    token: str | None = None
    # Where every answer's rows are logged (monitoring.log_dir); None: not logged.
    log_dir: str | None = None
    # Prometheus metrics counted and served on /metrics (api.metrics).
    metrics: bool = True
    # Where the model comes from (api.model_source): the local deployment link, or the version
    # behind the registry's champion alias (for replicas on several hosts).
    model_source: str = "local"
    tracking_uri: str | None = None
    registered_model_name: str = "risk_model"
    registry_poll_s: float = 10.0
    # Where a refused release is reported (config.yaml's alerts section); None: nowhere.
    webhook_url: str | None = None
    webhook_timeout_s: float = 5.0
    webhook_retries: int = 2
    # The monitoring store, without its password (PGPASSWORD): the dashboard's deployments.
    store_url: str | None = None

    @classmethod
    def from_config(cls, config: Any, root: Path, environ: dict[str, str]) -> ApiSettings:
        from utils.layout import Layout
        from utils.model.tracking import resolve_tracking_uri
        from utils.store.connection import store_url_for

        paths = config.resolved_paths(root)
        return cls(
            deployment_dir=str(paths["deployment_dir"]),
            model_dir=str(paths["model_dir"]),
            finaldata=str(Layout.from_config(config, root).finaldata),
            test_data=str(paths["test_data"]),
            data_dir=os.path.abspath(Path(root) / config.api.data_dir),
            target=config.data.target,
            features=list(config.data.features),
            id_columns=list(config.data.id_columns),
            max_rows=config.api.max_rows,
            max_body_bytes=int(config.api.max_body_mb * 1024 * 1024),
            max_upload_bytes=int(config.api.max_uploads_mb * 1024 * 1024),
            token=environ.get(config.api.token_env) or None,
            log_dir=(
                os.path.abspath(Path(root) / config.monitoring.log_dir)
                if config.monitoring.log_predictions
                else None
            ),
            metrics=config.api.metrics,
            model_source=config.api.model_source,
            tracking_uri=resolve_tracking_uri(config.main.tracking_uri, root),
            registered_model_name=config.main.registered_model_name,
            registry_poll_s=config.api.registry_poll_s,
            webhook_url=config.alerts.webhook_url,
            webhook_timeout_s=config.alerts.timeout_s,
            webhook_retries=config.alerts.retries,
            store_url=store_url_for(config.store.url, root),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ApiSettings:
        return cls(**json.loads(text))

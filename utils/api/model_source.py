"""Where the API's model comes from, and when it changes: the local deployment link
(``DeployedModel``) or the registry's champion alias (``RegistryModel``, for replicas on
several hosts). Either refuses a release that fails its checks and keeps serving the last
good one, counts it in the metrics and alerts once.

The challenger (deployment.strategy: shadow) comes the same way, from its own link or the
``challenger`` alias (``role=CHALLENGER``), but never falls back: a challenger that fails a
check, or whose link or alias goes, is no challenger, and it is never counted as the served
model. Only the prediction log asks for it (utils.monitoring.prediction_log)."""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from utils.api.compiled_model import CompiledModel
from utils.api.settings import ApiSettings
from utils.errors import PipelineError
from utils.files import sha256_file
from utils.model.deployment import (
    CHALLENGER,
    CHAMPION,
    MANIFEST_TAG,
    MODEL_SHA256_TAG,
    finished_releases,
    load_release_model,
    registered_model_file,
    releases_dir,
)
from utils.ops.alerts import Webhook, alert_for
from utils.ops.events import EventKind
from utils.ops.metrics import ApiMetrics

log = logging.getLogger("api")


@dataclass(frozen=True)
class Loaded:
    model: CompiledModel
    manifest: dict[str, Any]
    release: Path
    id_columns: list[str]
    target: str
    # Columns a request may send: the model's features, its ids and its target.
    allowed: frozenset[str]

    @property
    def features(self) -> list[str]:
        return self.model.features

    @property
    def version(self) -> Any:
        return self.manifest.get("model_version")

    def predict(self, matrix: np.ndarray | list[list[float]]) -> tuple[list[int], list[float]]:
        return self.model.predict(matrix)


@dataclass(frozen=True)
class Refused:
    release: str
    reason: str


class DeployedModel:
    """The deployed model, reloaded when the deployment link moves.

    A release that fails to load (tampered, incomplete, unreadable) is refused: a worker that
    already serves a model keeps it, and a worker started in that state serves the newest good
    release older than the refused one, so that every worker serves the same version and says
    the same thing on /health.
    """

    def __init__(
        self,
        deployment_dir: Path,
        settings: ApiSettings,
        metrics: ApiMetrics | None = None,
        role: str = CHAMPION,
    ) -> None:
        self.deployment_dir = Path(deployment_dir)
        self.role = role
        # The challenger is never counted nor alerted as the served model.
        metrics = metrics if role == CHAMPION else None
        # The configured schema, for manifests written before they recorded the model's own.
        self.settings = settings
        self.metrics = metrics
        self._target: str | None = None
        self._loaded: Loaded | None = None
        self._refused: Refused | None = None
        self._lock = threading.Lock()

    def current(self) -> Loaded | None:
        return self.state()[0]

    def state(self) -> tuple[Loaded | None, Refused | None]:
        """The model served, and the release the deployment names if it was refused."""
        target = self._locate()
        if target != self._target:
            with self._lock:
                if target != self._target:
                    self._switch(target)
        return self._loaded, self._refused

    # Where the deployed model is; the registry's subclass answers these three otherwise.

    def _locate(self) -> str | None:
        """What the deployment names now (a release folder), None when nothing."""
        try:
            return os.readlink(self.deployment_dir)
        except OSError:
            return None

    def _load_target(self, target: str) -> Loaded:
        return self._load(self._release_of(target))

    def _release_of(self, target: str) -> Path:
        return (self.deployment_dir.parent / target).resolve()

    def _older_than(self, target: str) -> list[tuple[str, Callable[[], Loaded]]]:
        """Loaders of the other releases, the newest older one first (then newer ones)."""
        refused = self._release_of(target)
        names = [p.name for p in reversed(finished_releases(self.deployment_dir))]
        candidates = [n for n in names if n != refused.name]
        ordered = [n for n in candidates if n < refused.name] + [
            n for n in candidates if n > refused.name
        ]
        return [(name, lambda name=name: self._load(refused.parent / name)) for name in ordered]

    def _switch(self, target: str | None) -> None:
        self._target = target
        if target is None:
            self._refused = None
            if self.role == CHALLENGER:
                self._loaded = None  # gone: promoted or rejected
            return
        name = self._release_of(target).name
        previous = self._loaded
        try:
            self._loaded, self._refused = self._load_target(target), None
        except Exception as err:  # noqa: BLE001 - whatever the cause, the release is refused
            self._refused = Refused(name, str(err) or type(err).__name__)
            if self.role == CHALLENGER:
                self._loaded = None
                log.error("refusing challenger %s: %s", name, self._refused.reason)
                return
            if self._loaded is None:
                self._loaded = self._last_good(target)
                self._count_load(None)
            if self.metrics is not None:
                self.metrics.refused()
            log.error(
                "refusing release %s: %s; serving %s",
                name,
                self._refused.reason,
                self._loaded.release.name if self._loaded else "nothing",
            )
            self._alert_refused(name)
            return
        self._count_load(previous)
        if self.role == CHALLENGER:
            log.info("challenger v%s from %s answers in the shadow", self._loaded.version, name)
            return
        log.info("serving model version %s from %s", self._loaded.version, name)

    def _count_load(self, previous: Loaded | None) -> None:
        if self.metrics is not None and self._loaded is not None:
            self.metrics.serving(self._loaded.version, previous.version if previous else None)

    def _alert_refused(self, release: str) -> None:
        """One alert per refused release, not one per worker: the first worker to create the
        release's mark beside the releases sends it (anyone, if the mark cannot be written)."""
        settings = self.settings
        webhook = Webhook(settings.webhook_url, settings.webhook_timeout_s,
                          settings.webhook_retries, f"api@{socket.gethostname()}")  # fmt: skip
        if not webhook.url:
            return
        try:
            mark = releases_dir(self.deployment_dir) / f".refused-alerted-{release}"
            os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            return
        except OSError:
            pass
        assert self._refused is not None
        serving = self._loaded.version if self._loaded else None
        event = {"release": release, "reason": self._refused.reason, "serving_version": serving}
        alert = alert_for(EventKind.REFUSED_RELEASE, event, str(serving))
        if alert is not None:
            webhook.send_in_background(alert)

    def _load(self, release: Path) -> Loaded:
        model, manifest = load_release_model(release)
        return self._loaded_from(model, manifest, release)

    def _loaded_from(self, model: Any, manifest: dict[str, Any], release: Path) -> Loaded:
        features = list(manifest.get("features") or self.settings.features)
        ids = manifest.get("id_columns")
        ids = list(self.settings.id_columns if ids is None else ids)
        target = manifest.get("target") or self.settings.target
        sample = np.random.default_rng(0).gamma(2.0, 100.0, size=(64, len(features)))
        return Loaded(
            CompiledModel(model, features, sample),
            manifest,
            release,
            ids,
            target,
            frozenset({*features, *ids, target}),
        )

    def _last_good(self, target: str) -> Loaded | None:
        """The newest release older than ``target`` that loads (then any newer one)."""
        for _, load in self._older_than(target):
            try:
                return load()
            except Exception:  # noqa: BLE001, S112 - try the next older release
                continue
        return None


class RegistryModel(DeployedModel):
    """The version behind the registry's ``champion`` alias (api.model_source=registry), for
    replicas on several hosts: every registry_poll_s seconds each worker asks the tracking
    server where the alias points, and a version it has not served yet is downloaded, checked
    against the sha256 the deployment step recorded, and loaded from its skops file with the
    trusted types only (the tracking server has no authentication: nothing it serves may run
    code here). A version that fails a check is refused like a tampered release."""

    def __init__(
        self, settings: ApiSettings, metrics: ApiMetrics | None = None, role: str = CHAMPION
    ) -> None:
        super().__init__(Path(settings.deployment_dir), settings, metrics, role)
        self._next_poll = 0.0
        self._located: str | None = None
        self._client: Any = None
        self._cache = Path(tempfile.mkdtemp(prefix="risk-api-registry-"))

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(self.settings.tracking_uri)
        return self._client

    def _locate(self) -> str | None:
        now = time.monotonic()
        if now < self._next_poll:
            return self._located
        self._next_poll = now + self.settings.registry_poll_s  # one asker per period
        try:
            version = self.client.get_model_version_by_alias(
                self.settings.registered_model_name, self.role
            ).version
        except Exception as err:  # noqa: BLE001 - unreachable or no alias: keep serving
            if self.role == CHALLENGER:
                self._located = None  # no alias (or no registry): no challenger
                return None
            log.warning("registry: cannot read the %s alias: %s", CHAMPION, err)
            return self._located
        self._located = str(version)
        return self._located

    def _release_of(self, target: str) -> Path:
        return Path(f"{self.settings.registered_model_name}-v{target}")

    def _load_target(self, target: str) -> Loaded:
        from mlflow.artifacts import download_artifacts

        from utils.model.training import load_model

        name = self.settings.registered_model_name
        tags = self.client.get_model_version(name, target).tags
        if MODEL_SHA256_TAG not in tags or MANIFEST_TAG not in tags:
            raise PipelineError(f"{name} v{target}: no sha256 recorded at deployment")
        local = Path(
            download_artifacts(f"models:/{name}/{target}", dst_path=str(self._cache / target))
        )
        model_file = local / registered_model_file(local)
        if model_file.suffix != ".skops":
            # The tracking server has no authentication: a pickle there could run anything.
            raise PipelineError(f"{name} v{target}: {model_file.name} is not a skops file")
        if sha256_file(model_file) != tags[MODEL_SHA256_TAG]:
            raise PipelineError(f"{name} v{target}: sha256 does not match the deployment's")
        manifest = json.loads(tags[MANIFEST_TAG])
        return self._loaded_from(load_model(model_file), manifest, self._release_of(target))

    def _older_than(self, target: str) -> list[tuple[str, Callable[[], Loaded]]]:
        older = [str(v) for v in range(int(target) - 1, 0, -1)]  # the newest first
        return [(v, lambda v=v: self._load_target(v)) for v in older]

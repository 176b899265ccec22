"""Automation for cron: new data -> score drift and data drift -> retrain -> redeploy.

    python fullprocess.py                 # one check (cron every 10 minutes)
    python fullprocess.py --dry-run       # say what would happen, change nothing
    python fullprocess.py --force         # retrain and redeploy regardless
    python fullprocess.py --every 600     # loop, for hosts without cron
    python fullprocess.py automation.score_drift_method=parametric   # any config override

Exit codes: 0 nothing new, no drift, kept the deployed model, or redeployed, and also "already
running"; 2 bad input or configuration; 1 any other failure. The steps run through main.py's
MLflow entry points, exactly as ./run_pipeline.sh runs them.
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from utils.automation import (
    HashCache,
    Journal,
    SourceFile,
    exclusive_lock,
    new_files,
    source_files,
)
from utils.cli import run_entry_point
from utils.config import PipelineConfig, load_project_config
from utils.errors import PipelineError
from utils.layout import Layout

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("fullprocess")

DECISION_EVENT = "automation"
INGEST = ["data_ingestion"]
RETRAIN = ["model_training", "model_scoring"]
REDEPLOY = ["model_deployment", "diagnostics", "reporting"]


def find_new_files(config: PipelineConfig, root: Path, store) -> list[SourceFile]:
    """The cheap check: hashes of the source files against what is deployed and decided."""
    from utils.ingestion import INGESTED_FILES_NAME, read_ingested_files

    paths = config.resolved_paths(root)
    cache = HashCache(root / config.automation.hash_cache)
    sources = source_files(root / config.automation.source_dir, cache)
    cache.save()
    deployed = read_ingested_files(paths["deployment_dir"] / INGESTED_FILES_NAME)
    return new_files(sources, deployed, store.ingested_file_hashes(), store.decided_files())


def drift_reference(ingested_dir: Path, manifest: dict) -> Path:
    """The data the deployed model was trained on, as data drift's reference; finaldata.csv
    (with a warning) when that ingestion is no longer kept or the manifest predates the hash."""
    from utils.ingestion import FINALDATA_NAME, ingestion_with_data

    trained_on = ingestion_with_data(ingested_dir, manifest.get("training_data_sha256"))
    if trained_on is not None:
        return trained_on
    log.warning(
        "the data model v%s was trained on is no longer kept: data drift compares with %s",
        manifest.get("model_version"),
        FINALDATA_NAME,
    )
    return Path(ingested_dir) / FINALDATA_NAME


def run_steps(root: Path, overrides: list[str], steps: list[str], input_dir: str) -> None:
    """Run ``steps`` through main.py's pipeline (one MLflow parent run) with ``overrides``."""
    import main
    from utils.config import load_config

    raw_overrides = [
        *overrides,
        f"main.steps='{','.join(steps)}'",
        f"paths.input_dir='{input_dir}'",
    ]
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(root), version_base=None):
        raw = compose(config_name="config", overrides=raw_overrides)
    main.run_pipeline(load_config(raw), raw, root)


def process(
    config: PipelineConfig, root: Path, overrides: list[str], dry_run: bool, force: bool
) -> str:
    """One automation run; returns the one-line summary of what happened."""
    from utils.store import MonitoringStore, resolve_store_url, split_password

    url, password = split_password(resolve_store_url(config.store.url, root))
    if password is not None:
        import os

        os.environ["PGPASSWORD"] = password
    store = MonitoringStore(url)
    journal = Journal(root / config.automation.journal)
    unfinished = journal.read()
    if unfinished is not None:
        if dry_run:
            return f"dry run: would finish the interrupted run of {unfinished['started_at']}"
        log.info("finishing the run of %s that was interrupted", unfinished["started_at"])
        return finish(unfinished, journal, Actions(config, root, overrides, store))
    fresh = find_new_files(config, root, store)
    source_dir = root / config.automation.source_dir
    if not fresh and not force:
        return f"no new data in {source_dir}"

    # From here on the work is real: the heavy libraries are imported only now.
    import pandas as pd

    from utils.deployment import current_release, load_deployed_model
    from utils.drift import data_drift, score_drift
    from utils.schema import read_dataset
    from utils.scoring import evaluate

    schema = config.schema
    paths = config.resolved_paths(root)
    input_dir = str(source_dir)
    if config.automation.mode == "append":
        input_dir = ",".join([*map(str, config.input_dirs(root)), str(source_dir)])
    names = ", ".join(f.name for f in fresh) or "none"
    files = [{"name": f.name, "sha256": f.sha256} for f in fresh]

    if current_release(paths["deployment_dir"]) is None:
        if dry_run:
            return f"dry run: no model deployed yet; would run every step on {input_dir}"
        run_steps(root, overrides, INGEST + RETRAIN + REDEPLOY, input_dir)
        store.record_event(DECISION_EVENT, {"files": files, "outcome": "first deployment"})
        return f"no model was deployed: trained and deployed on {input_dir}"

    model, manifest = load_deployed_model(paths["deployment_dir"])
    version = manifest.get("model_version")
    deployed_f1 = float(manifest.get("f1") or 0.0)
    retrain, reasons = force, ["forced"] if force else []
    score_result = data_result = new_data = None
    if fresh:
        frames = [read_dataset(f.path, schema) for f in fresh]
        new_data = pd.concat(frames, ignore_index=True).drop_duplicates()
        metrics = evaluate(model, new_data, schema)
        history = [d["f1"] for d in store.deployment_history() if d["f1"] is not None]
        score_result = score_drift(
            metrics["f1"],
            deployed_f1,
            history,
            config.automation.score_drift_method,
            config.automation.score_drift_k,
            config.automation.min_history,
        )
        reference = read_dataset(drift_reference(paths["ingested_dir"], manifest), schema)
        data_result = data_drift(reference, new_data, list(schema.features), **vars(config.drift))
        if score_result.drift:
            retrain = True
            reasons.append("score drift")
        if data_result.dataset_drift and config.automation.retrain_on_data_drift:
            retrain = True
            reasons.append("data drift")
        if score_result.note:
            log.info("%s", score_result.note)
        for feature in data_result.features:
            log.info(
                "data drift %s",
                feature.describe(data_result.p_threshold, data_result.min_effect),
            )
        for note in data_result.notes:
            log.warning("data drift: %s", note)

    summary_of_checks = f"new files: {names}; "
    if score_result:
        summary_of_checks += (
            f"{'score drift' if score_result.drift else 'no score drift'} (F1 on new data "
            f"{score_result.new_f1:.4f}, threshold {score_result.threshold:.4f}, "
            f"{score_result.method}); {data_result.summary()}; "
        )
    if dry_run:
        action = "retrain and redeploy" if retrain else "ingest only, keep model v" + str(version)
        return f"dry run: {summary_of_checks}would {action}"

    if score_result is not None:
        store.record_scoring(f"new: {names}", metrics, model_version=str(version))
        store.record_event("score_drift", score_result.as_dict(), model_version=str(version))
        store.record_event("data_drift", data_result.as_dict(), model_version=str(version))

    state = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
        "file_paths": [str(f.path) for f in fresh],
        "input_dir": input_dir,
        "retrain": retrain,
        "force": force,
        "reasons": reasons,
        "version": version,
        "summary": summary_of_checks,
        "done": [],
    }
    # The intent is on disk before anything changes: a run killed from here on is finished by
    # the next one, which does not assess again (the ingested data would then hold the new rows).
    journal.write(state)
    return finish(state, journal, Actions(config, root, overrides, store, new_data))


class Actions:
    """What finish() does to the world; tests replace it to stop at every boundary."""

    def __init__(
        self, config: PipelineConfig, root: Path, overrides: list[str], store, new_data=None
    ) -> None:
        self.config, self.root, self.overrides, self.store = config, root, overrides, store
        # The new files as the assessment read them; a resumed run reads them again.
        self.new_data = new_data

    def run(self, steps: list[str], input_dir: str) -> None:
        run_steps(self.root, self.overrides, steps, input_dir)

    def compare(self, file_paths: list[str]) -> dict[str, float]:
        """F1 of the retrained and of the deployed model on the compare_on data."""
        import pandas as pd

        from utils.deployment import load_deployed_model
        from utils.schema import read_dataset
        from utils.scoring import evaluate
        from utils.training import MODEL_NAME, load_pickle

        schema, paths = self.config.schema, self.config.resolved_paths(self.root)
        comparison = read_dataset(paths["test_data"], schema, ids=False)
        if self.config.automation.compare_on == "test_and_new" and file_paths:
            new = self.new_data
            if new is None:
                frames = [read_dataset(Path(p), schema) for p in file_paths]
                new = pd.concat(frames, ignore_index=True).drop_duplicates()
            comparison = pd.concat([comparison, new], ignore_index=True)
        candidate = load_pickle(paths["model_dir"] / MODEL_NAME)
        incumbent, _ = load_deployed_model(paths["deployment_dir"])
        return {
            "candidate_f1": evaluate(candidate, comparison, schema)["f1"],
            "deployed_f1": evaluate(incumbent, comparison, schema)["f1"],
        }

    def trained_model_is_deployed(self) -> bool:
        """Whether the deployment already serves the retrained model (a redeploy that was
        interrupted after its first step)."""
        from utils.deployment import current_release
        from utils.files import sha256_file
        from utils.training import MODEL_NAME

        paths = self.config.resolved_paths(self.root)
        release = current_release(paths["deployment_dir"])
        trained = paths["model_dir"] / MODEL_NAME
        return (
            release is not None
            and trained.is_file()
            and sha256_file(release / MODEL_NAME) == sha256_file(trained)
        )

    def deployed_version(self) -> object:
        from utils.deployment import load_deployed_model

        return load_deployed_model(self.config.resolved_paths(self.root)["deployment_dir"])[1].get(
            "model_version"
        )

    def new_test_f1(self) -> float:
        from utils.scoring import read_score

        return read_score(Layout.from_config(self.config, self.root).score)

    def record(self, payload: dict, version: object) -> None:
        self.store.record_event(DECISION_EVENT, payload, str(version))


def finish(state: dict, journal: Journal, act: Actions) -> str:
    """Carry out the decision of ``state`` from where it stopped; each phase is marked done in
    the journal once it is, and the journal goes once the decision is recorded."""
    done, version, summary = state["done"], state["version"], state["summary"]

    def phase(name: str, work) -> None:
        if name not in done:
            work()
            done.append(name)
            journal.write(state)

    phase("ingest", lambda: act.run(INGEST, state["input_dir"]))
    if not state["retrain"]:
        act.record({"files": state["files"], "outcome": "no drift"}, version)
        journal.clear()
        return f"{summary}ingested, kept model v{version}"

    phase("retrain", lambda: act.run(RETRAIN, state["input_dir"]))
    phase("compare", lambda: state.update(act.compare(state["file_paths"])))
    candidate_f1, deployed_f1 = state["candidate_f1"], state["deployed_f1"]
    compared = f"on {act.config.automation.compare_on.replace('_', ' ')} data"
    if candidate_f1 < deployed_f1 and not state["force"]:
        act.record(
            {
                "files": state["files"],
                "outcome": "kept",
                "candidate_f1": candidate_f1,
                "deployed_f1": deployed_f1,
                "compared_on": act.config.automation.compare_on,
            },
            version,
        )
        journal.clear()
        return (
            f"{summary}retrained, but the new model scores {candidate_f1:.4f} < "
            f"{deployed_f1:.4f} {compared}: kept model v{version}"
        )
    comparison_text = f"new model F1 {candidate_f1:.4f} >= {deployed_f1:.4f} {compared}"

    def redeploy() -> None:
        # Interrupted after the deployment step: only diagnostics and the report remain.
        steps = REDEPLOY[1:] if act.trained_model_is_deployed() else REDEPLOY
        act.run(steps, state["input_dir"])

    phase("redeploy", redeploy)
    new_version = act.deployed_version()
    if new_version == version:
        # Retrained on the same data with the same settings: the same model, nothing deployed.
        act.record({"files": state["files"], "outcome": "identical"}, version)
        journal.clear()
        return f"{summary}retrained: the same model as the deployed one, kept model v{version}"
    act.record(
        {
            "files": state["files"],
            "outcome": "redeployed",
            "reasons": state["reasons"],
            "comparison": comparison_text,
            "previous_version": version,
            "new_test_f1": act.new_test_f1(),
        },
        new_version,
    )
    journal.clear()
    return (
        f"{summary}retrained on {' and '.join(state['reasons'])}; {comparison_text}: "
        f"redeployed v{version} -> v{new_version}"
    )


def run_once(root: Path, overrides: list[str], dry_run: bool, force: bool) -> None:
    config = load_project_config(root, overrides)
    with exclusive_lock(root / config.automation.lock_file) as acquired:
        if not acquired:
            log.info("already running (lock %s held): nothing to do", config.automation.lock_file)
            return
        started = time.perf_counter()
        summary = process(config, root, overrides, dry_run, force)
        log.info("%s (%.1f s)", summary, time.perf_counter() - started)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would happen, change nothing"
    )
    parser.add_argument("--force", action="store_true", help="retrain and redeploy regardless")
    parser.add_argument("--every", type=float, default=None, help="repeat every SECONDS (no cron)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of config.yaml")
    return parser.parse_args()


if __name__ == "__main__":
    args = _parse_args()

    def work() -> None:
        while True:
            try:
                run_once(ROOT, args.overrides, args.dry_run, args.force)
            except PipelineError as err:
                if args.every is None:
                    raise
                # A loop standing in for cron keeps going, as cron would.
                log.error("%s; trying again in %.0f s", err, args.every)
            if args.every is None:
                return
            time.sleep(args.every)

    run_entry_point("fullprocess", work)

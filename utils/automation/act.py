"""The automation's act phase: carry out a decision through main.py's steps, journalled so
that a run killed half-way is finished by the next one."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from utils.automation.assess import Assessment
from utils.automation.decisions import (
    Action,
    Decision,
    Outcome,
    comparison_data,
    deploy_candidate,
    input_folders,
)
from utils.automation.sources import (
    Journal,
    SourceFile,
)
from utils.config import PipelineConfig
from utils.layout import Layout
from utils.ops.events import EventKind

INGEST = ["data_ingestion"]
RETRAIN = ["model_training", "model_scoring"]
REDEPLOY = ["model_deployment", "diagnostics", "reporting"]
REPORT = REDEPLOY[1:]

log = logging.getLogger(__name__)


def new_data_dirs(config: PipelineConfig, root: Path) -> list[Path]:
    """Where new labelled data comes from: the source folder, and the folder of labelled
    traffic once live monitoring wrote a file there (ingestion refuses a folder without one)."""
    from utils.files import data_files_in

    traffic = root / config.monitoring.labelled_traffic_dir
    has_traffic = traffic.is_dir() and bool(data_files_in(traffic))
    return [root / config.automation.source_dir, *([traffic] if has_traffic else [])]


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


def act(
    decision: Decision,
    config: PipelineConfig,
    root: Path,
    overrides: list[str],
    store,
    journal: Journal,
    unfinished: dict | None,
    fresh: list[SourceFile],
    assessment: Assessment | None,
) -> str:
    """Carry out ``decision`` (or, in a dry run, say what it would do)."""
    source_dir = root / config.automation.source_dir
    input_dir = input_folders(
        config.automation.mode,
        config.input_dirs(root),
        [str(d) for d in new_data_dirs(config, root)],
    )
    if decision.action is Action.NOTHING:
        return f"no new data in {source_dir}"
    if decision.action is Action.FINISH_INTERRUPTED:
        assert unfinished is not None
        if decision.dry_run:
            return f"dry run: would finish the interrupted run of {unfinished['started_at']}"
        log.info("finishing the run of %s that was interrupted", unfinished["started_at"])
        return finish(unfinished, journal, Actions(config, root, overrides, store))
    files = [{"name": f.name, "sha256": f.sha256} for f in fresh]
    if decision.action is Action.FIRST_DEPLOYMENT:
        if decision.dry_run:
            return f"dry run: no model deployed yet; would run every step on {input_dir}"
        run_steps(root, overrides, INGEST + RETRAIN + REDEPLOY, input_dir)
        store.record_event(
            EventKind.DECISION, {"files": files, "outcome": Outcome.FIRST_DEPLOYMENT}
        )
        return f"no model was deployed: trained and deployed on {input_dir}"

    assert assessment is not None
    version = assessment.version
    summary = assessment.summary()
    if decision.dry_run:
        return f"dry run: {summary}would {decision.action} (model v{version})"
    if assessment.score is not None:
        names = assessment.names
        store.record_scoring(f"new: {names}", assessment.metrics, model_version=str(version))
        store.record_event(
            EventKind.SCORE_DRIFT, assessment.score.as_dict(), model_version=str(version)
        )
        store.record_event(
            EventKind.DATA_DRIFT, assessment.data_drift_event(), model_version=str(version)
        )
    state = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
        "file_paths": [str(f.path) for f in fresh],
        "input_dir": input_dir,
        "retrain": decision.action is Action.RETRAIN,
        "force": "forced" in decision.reasons,
        "reasons": list(decision.reasons),
        "version": version,
        "summary": summary,
        "done": [],
    }
    # The intent is on disk before anything changes: a run killed from here on is finished by
    # the next one, which does not assess again (the ingested data would then hold the new rows).
    journal.write(state)
    return finish(state, journal, Actions(config, root, overrides, store, assessment.new_data))


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

        from utils.data.schema import read_dataset
        from utils.model.deployment import load_deployed_model
        from utils.model.scoring import evaluate
        from utils.model.training import MODEL_FILE, load_model

        schema, paths = self.config.schema, self.config.resolved_paths(self.root)
        comparison = read_dataset(paths["test_data"], schema, ids=False)
        if "new" in comparison_data(self.config.automation.compare_on, bool(file_paths)):
            new = self.new_data
            if new is None:
                frames = [read_dataset(Path(p), schema) for p in file_paths]
                new = pd.concat(frames, ignore_index=True).drop_duplicates()
            comparison = pd.concat([comparison, new], ignore_index=True)
        candidate = load_model(paths["model_dir"] / MODEL_FILE)
        incumbent, _ = load_deployed_model(paths["deployment_dir"])
        return {
            "candidate_f1": evaluate(candidate, comparison, schema)["f1"],
            "deployed_f1": evaluate(incumbent, comparison, schema)["f1"],
        }

    def trained_model_is_deployed(self) -> bool:
        """Whether the deployment (or, in the shadow, the challenger) already holds the
        retrained model (a redeploy that was interrupted after its first step)."""
        from utils.files import sha256_file
        from utils.model.deployment import current_release
        from utils.model.training import MODEL_FILE

        layout = Layout.from_config(self.config, self.root)
        trained = layout.model_dir / MODEL_FILE
        for link in (layout.deployment_dir, layout.challenger_dir):
            release = current_release(link)
            if (
                release is not None
                and trained.is_file()
                and (release / MODEL_FILE).is_file()
                and sha256_file(release / MODEL_FILE) == sha256_file(trained)
            ):
                return True
        return False

    def deployed_version(self) -> object:
        from utils.model.deployment import load_deployed_model

        return load_deployed_model(self.config.resolved_paths(self.root)["deployment_dir"])[1].get(
            "model_version"
        )

    def challenger_version(self) -> object:
        """The challenger's model version (None when there is none)."""
        from utils.model.deployment import current_release, read_manifest

        release = current_release(Layout.from_config(self.config, self.root).challenger_dir)
        return None if release is None else read_manifest(release).get("model_version")

    def new_test_f1(self) -> float:
        from utils.model.scoring import read_score

        return read_score(Layout.from_config(self.config, self.root).score)

    def record(self, payload: dict, version: object) -> None:
        self.store.record_event(EventKind.DECISION, payload, str(version))


def finish(state: dict, journal: Journal, act: Actions) -> str:
    """Carry out the decision of ``state`` from where it stopped; each phase is marked done in
    the journal once it is, and the journal goes once the decision is recorded."""
    done, version, summary = state["done"], state["version"], state["summary"]

    def phase(name: str, work) -> None:
        if name not in done:
            work()
            done.append(name)
            journal.write(state)

    def refresh_report() -> None:
        # The model stays, but the data and the checks are new: the report says so.
        phase("report", lambda: act.run(REPORT, state["input_dir"]))

    phase("ingest", lambda: act.run(INGEST, state["input_dir"]))
    if not state["retrain"]:
        refresh_report()
        act.record({"files": state["files"], "outcome": Outcome.NO_DRIFT}, version)
        journal.clear()
        return f"{summary}ingested, kept model v{version}"

    phase("retrain", lambda: act.run(RETRAIN, state["input_dir"]))
    phase("compare", lambda: state.update(act.compare(state["file_paths"])))
    candidate_f1, deployed_f1 = state["candidate_f1"], state["deployed_f1"]
    sets = comparison_data(act.config.automation.compare_on, bool(state["file_paths"]))
    compared = f"on {' and '.join(sets)} data"
    if not deploy_candidate(candidate_f1, deployed_f1, state["force"]):
        refresh_report()
        act.record(
            {
                "files": state["files"],
                "outcome": Outcome.KEPT,
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
        steps = REPORT if act.trained_model_is_deployed() else REDEPLOY
        act.run(steps, state["input_dir"])

    if "challenger_before" not in state:
        state["challenger_before"] = act.challenger_version()
        journal.write(state)
    phase("redeploy", redeploy)
    new_version = act.deployed_version()
    challenger = act.challenger_version()
    if new_version == version and challenger not in (None, state["challenger_before"]):
        # deployment.strategy shadow: the champion serves on, the new model answers beside it.
        act.record(
            {
                "files": state["files"],
                "outcome": Outcome.CHALLENGER,
                "reasons": state["reasons"],
                "comparison": comparison_text,
                "previous_version": version,
                "challenger_version": challenger,
                "replaced_challenger": state["challenger_before"],
                "new_test_f1": act.new_test_f1(),
            },
            challenger,
        )
        journal.clear()
        return (
            f"{summary}retrained on {' and '.join(state['reasons'])}; {comparison_text}: "
            f"v{challenger} is the challenger beside champion v{version} (shadow)"
        )
    if new_version == version:
        # Retrained on the same data with the same settings: the same model, nothing deployed.
        act.record({"files": state["files"], "outcome": Outcome.IDENTICAL}, version)
        journal.clear()
        return f"{summary}retrained: the same model as the deployed one, kept model v{version}"
    act.record(
        {
            "files": state["files"],
            "outcome": Outcome.REDEPLOYED,
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

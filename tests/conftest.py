"""Fixtures shared by the whole suite: the course schema, tiny data, project copies."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from utils.data.schema import DataSchema

ROOT = Path(__file__).resolve().parents[1]
UDACITY = ROOT.parent / "shared" / "reference" / "udacity"


@pytest.fixture
def schema() -> DataSchema:
    return DataSchema(
        target="exited",
        features=("lastmonth_activity", "lastyear_activity", "number_of_employees"),
        id_columns=("corporation",),
    )


@pytest.fixture
def tiny_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "corporation": ["a", "b", "c", "d", "e", "f"],
            "lastmonth_activity": [10, 500, 20, 700, 15, 650],
            "lastyear_activity": [100, 4000, 150, 5000, 120, 4500],
            "number_of_employees": [3, 40, 5, 60, 4, 55],
            "exited": [1, 0, 1, 0, 1, 0],
        }
    )


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write a frame (or raw text) to a CSV under tmp_path and return its path."""

    def write(name: str, content: pd.DataFrame | str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            content.to_csv(path, index=False)
        return path

    return write


def copy_as_cloned(target: Path) -> Path:
    """The project as a fresh clone has it: the files git tracks and the new ones it does not
    ignore, as they are in the working tree. Nothing a run left behind (a prediction log, the
    automation's lock or hash cache, labels dropped in) comes along: .gitignore decides, not
    a second list that drifts from it."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not there
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The project as a fresh clone has it, in a temporary folder."""
    return copy_as_cloned(tmp_path / "project")


@pytest.fixture(scope="session")
def deployed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project after one ``python main.py``, built once per session: by the first
    xdist worker that asks, the others wait for it (a lock beside the workers' folders)."""
    import fcntl

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    template = shared / "deployed-demo"
    with open(shared / "deployed-demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template / ".built").exists():
            shutil.rmtree(template, ignore_errors=True)
            run = run_in(copy_as_cloned(template), "main.py")
            # What the run said, beside the project (not in it: a copy is a fresh project).
            (shared / "deployed-demo.out.json").write_text(
                json.dumps({"stdout": run.stdout, "stderr": run.stderr})
            )
            (template / ".built").touch()
    return template


@pytest.fixture
def deployed_run_output(deployed_template: Path, deployed_project: Path) -> dict[str, str]:
    """The stdout and stderr of the ``python main.py`` that made ``deployed_project``, its
    paths as the copy's."""
    said = json.loads((deployed_template.parent / "deployed-demo.out.json").read_text())
    return {k: v.replace(str(deployed_template), str(deployed_project)) for k, v in said.items()}


def relocate(template: Path, target: Path) -> Path:
    """A copy of a project that has run, at ``target``. Its databases and some of its files
    name folders by absolute path (MLflow's artifact folders, the ingested folders): those
    are rewritten to the copy's, in every text column and every small text file."""
    import sqlite3

    shutil.copytree(template, target, symlinks=True)
    (target / ".built").unlink(missing_ok=True)
    old, new = str(template), str(target)
    for path in target.rglob("*"):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        if path.suffix == ".db":
            with sqlite3.connect(path) as db:
                tables = db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                for (table,) in tables.fetchall():
                    for column in db.execute(f'PRAGMA table_info("{table}")').fetchall():
                        if column[2].upper().startswith(("VARCHAR", "TEXT", "JSON")):
                            db.execute(
                                f'UPDATE "{table}" SET "{column[1]}" = '
                                f'replace("{column[1]}", ?, ?)',
                                (old, new),
                            )
            continue
        data = path.read_bytes()
        if old.encode() in data:
            path.write_bytes(data.replace(old.encode(), new.encode()))
    return target


@pytest.fixture
def deployed_project(deployed_template: Path, tmp_path: Path) -> Path:
    """The demo project with its first model trained, registered and deployed (``python
    main.py`` run once), copied for this test."""
    return relocate(deployed_template, tmp_path / "project")


def step_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running a step script directly: shared code importable, own tracking."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env.pop("MLFLOW_RUN_ID", None)
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("PIPELINE_DEBUG", None)
    env.pop("RISK_STEP_RECORDS", None)
    return env


@pytest.fixture
def run_script(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a project script with this interpreter and return the finished process."""

    def run(
        script: str, *args: object, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / script), *map(str, args)],
            capture_output=True,
            text=True,
            cwd=cwd or tmp_path,
            env={**step_env(tmp_path), **(env or {})},
            timeout=300,
            check=False,
        )

    return run


@pytest.fixture
def assert_one_line_error() -> Callable[..., str]:
    """Check a failed process: non-zero exit, no traceback, one ERROR line naming the fault."""

    def check(proc: subprocess.CompletedProcess, *fragments: str) -> str:
        assert proc.returncode != 0, proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        errors = [line for line in proc.stderr.splitlines() if " ERROR " in line]
        assert errors, proc.stderr
        for fragment in fragments:
            assert fragment in errors[0], errors[0]
        return errors[0]

    return check


@pytest.fixture
def udacity_dir() -> Path:
    """The course's original data set, read where the workspace keeps it."""
    if not UDACITY.is_dir():
        pytest.skip(f"course data not found at {UDACITY}")
    return UDACITY


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path: Path):
    """A fresh, empty monitoring database: a SQLite file, or a new PostgreSQL database.

    PostgreSQL comes from TEST_POSTGRES_URL (an admin URL; .ci/run and run_tests.sh start a
    server on loopback). Without it the PostgreSQL cases skip, except in CI, where they fail.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'monitoring.db'}"
        return
    yield from _fresh_postgres_database()


def _fresh_postgres_database():
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = os.environ.get("TEST_POSTGRES_URL")
    if not admin_url:
        if os.environ.get("CI"):
            pytest.fail("TEST_POSTGRES_URL is not set: CI must run the PostgreSQL tests")
        pytest.skip("TEST_POSTGRES_URL not set (./run_tests.sh --all starts a server when it can)")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database (for tests that need PostgreSQL itself)."""
    yield from _fresh_postgres_database()


@pytest.fixture
def second_postgres_url():
    """Another fresh PostgreSQL database, beside ``postgres_url``."""
    yield from _fresh_postgres_database()


@pytest.fixture
def free_port() -> int:
    from utils.runtime.processes import free_port

    return free_port()


class RunsCode:
    """What a forged model file holds: unpickling it runs the forger's call (here, it only
    creates the file ``marker``, so a test can tell whether it ran)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


class WebhookReceiver:
    """A webhook on loopback that keeps what it is sent; answers ``statuses`` first, then 200."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.posts: list[dict] = []
        self.statuses: list[int] = []
        self.headers: list[dict] = []
        # Where a 3xx answer points (its Location).
        self.location = "http://127.0.0.1:9/elsewhere"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.headers.append(dict(self.headers))
                if status == 200:
                    receiver.posts.append(json.loads(body))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/secret-path-4711"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return [post["text"] for post in self.posts]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


# The Spark engine's tests: PySpark is an extra (./setup_env.sh spark; CI installs it) and
# needs Java 17.
SPARK_MISSING = "needs PySpark (./setup_env.sh spark) and Java 17 (openjdk-17-jre-headless)"
needs_spark = pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None or shutil.which("java") is None,
    reason=SPARK_MISSING,
)

# What ./run_tests.sh leaves to ./run_tests.sh --all: the kinds that launch real processes,
# need a server or build environments (pyproject.toml declares the markers). run_tests.sh
# spells the same expression; test_fast_tier_is_what_run_tests_deselects checks it.
WHOLE_SUITE_ONLY = ("integration", "postgres", "spark", "envbuild", "benchmark")
FAST_TIER = "not (" + " or ".join(WHOLE_SUITE_ONLY) + ")"
POSTGRES_FIXTURES = {"postgres_url", "second_postgres_url"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark Spark and PostgreSQL tests from what they use, so that a marker never goes missing
    from a test that needs a server."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        needs = [m.kwargs.get("reason") for m in item.iter_markers("skipif")]
        if "spark" in names or SPARK_MISSING in needs:
            item.add_marker(pytest.mark.spark)
        params = getattr(item, "callspec", None)
        if names & POSTGRES_FIXTURES or (
            params is not None and params.params.get("store_url") == "postgresql"
        ):
            item.add_marker(pytest.mark.postgres)


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.getoption("markexpr") == FAST_TIER:
        return (
            "fast tier: tests marked " + ", ".join(WHOLE_SUITE_ONLY) + " are deselected "
            "(./run_tests.sh --all runs them)"
        )
    return None


@pytest.fixture(scope="session")
def spark():
    """One Spark session in local mode with two cores, as in CI, for every Spark test."""
    from utils.engines.spark import spark_session

    session = spark_session("local[2]", {"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()


def load_script(relative: str, name: str):
    """Import a step folder's script (folders like 06_reporting are not packages)."""
    import importlib.util

    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


CHUNK_FIGURES = {"f1": 0.7, "precision": 0.6, "recall": 0.8, "roc_auc": 0.9}
CHUNK_BAND = {
    "f1": [0.75, 0.85],
    "precision": [0.5, 0.7],
    "recall": [0.7, 0.9],
    "roc_auc": [0.8, 1.0],
}


def chunk_entry(source: str, ended_at: str | None, **fields) -> dict:
    """One chunk of models/monitoring.json as fullprocess.py writes it, with ``fields``
    changed."""
    return {
        "source": source, "rows": 1000, "start": 0, "end": 999, "ended_at": ended_at,
        "estimated": CHUNK_FIGURES, "band": CHUNK_BAND, "realized": None, "labelled_rows": 0,
        "drifted_features": [], "probability_drift": False, "alert": False,
        "alert_reasons": [], **fields,
    }  # fmt: skip


def write_monitoring(models: Path) -> dict:
    """A models/monitoring.json as fullprocess.py writes it, from real chunks."""
    import json

    import numpy as np

    from utils.monitoring.chunks import Reference, Stream, monitor_stream

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=3000)})
    p = 1 / (1 + np.exp(-2 * x["a"].to_numpy()))
    reference = Reference.build(p, (rng.random(3000) < p).astype(float), x)
    chunks = monitor_stream(Stream("log", x, p), reference, 1000, None, 0.5, {})
    result = {"model_version": "1", "chunks": chunks, "fingerprint": "f"}
    (models / "monitoring.json").write_text(json.dumps(result))
    return result


@pytest.fixture
def api_project(tmp_path: Path, schema: DataSchema):
    """A deployed model with its test data, ingested data and diagnostics, as the API sees it."""
    import json

    from utils.api.settings import ApiSettings
    from utils.data.demo import generate_rows
    from utils.model.deployment import deploy
    from utils.model.training import ModelParams, save_model, train_model

    data_dir = tmp_path / "data"
    (data_dir / "testdata").mkdir(parents=True)
    train = generate_rows(400, seed=1)
    test = generate_rows(100, seed=2)
    test.to_csv(data_dir / "testdata" / "testdata.csv", index=False)
    finaldata = tmp_path / "ingested" / "finaldata.csv"
    finaldata.parent.mkdir()
    train.to_csv(finaldata, index=False)
    models = tmp_path / "models"
    save_model(train_model(train, schema, ModelParams()), {}, models)
    (models / "latestscore.txt").write_text("0.8\n")
    (finaldata.parent / "ingestedfiles.txt").write_text("a.csv\n")
    (models / "diagnostics.json").write_text(
        json.dumps(
            {
                "model_version": "1",
                "missing_percent": {"a": 0.0},
                "timings_s": {"data_ingestion": 0.1},
                "dependencies": [],
            }
        )
    )
    write_monitoring(models)
    production = tmp_path / "production_deployment"

    def redeploy(version: str, model_dir: Path | None = None) -> Path:
        return deploy(
            {
                "trainedmodel.pkl": (model_dir or models) / "trainedmodel.pkl",
                "trainedmodel.skops": (model_dir or models) / "trainedmodel.skops",
                "latestscore.txt": models / "latestscore.txt",
                "ingestedfiles.txt": finaldata.parent / "ingestedfiles.txt",
            },
            production,
            {
                "model_version": version,
                "registered_model_name": "risk_model",
                "features": list(schema.features),
                "f1": 0.8,
            },
        )

    redeploy("1")
    settings = ApiSettings(
        deployment_dir=str(production),
        model_dir=str(models),
        finaldata=str(finaldata),
        test_data=str(data_dir / "testdata" / "testdata.csv"),
        data_dir=str(data_dir),
        target=schema.target,
        features=list(schema.features),
        id_columns=list(schema.id_columns),
        max_rows=500,
        max_body_bytes=200_000,
    )
    return {
        "settings": settings,
        "redeploy": redeploy,
        "test": test,
        "train": train,
        "tmp": tmp_path,
        "models": models,
    }


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user with the project's venv activated and no MLflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HYDRA_"))}
    env.pop("PIPELINE_DEBUG", None)
    env.pop("RISK_ALERT_WEBHOOK", None)
    env.pop("RISK_STEP_RECORDS", None)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra)
    return env


def run_in(
    project: Path,
    *command: str,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` (a project script, or an executable path) in ``project``."""
    program = [sys.executable, *command] if command[0].endswith(".py") else list(command)
    proc = subprocess.run(
        program,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or user_env(),
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def bash_blocks(section: str) -> list[str]:
    """The ```bash blocks of README's ``## section``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```bash\n(.*?)```", text[start : end if end > 0 else None], re.S)


def run_block(
    script: str, project: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """A command block run by bash as a user would, in ``project``; it must succeed."""
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=project,
        env=env or user_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{script}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture
def registry_of(monkeypatch):
    """Point MLflow (and the steps run in process) at a project's own tracking database."""

    def point(project: Path) -> str:
        import mlflow

        uri = f"sqlite:///{project / 'mlflow.db'}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
        monkeypatch.delenv("RISK_STEP_RECORDS", raising=False)
        mlflow.set_tracking_uri(uri)
        return uri

    yield point
    import mlflow

    mlflow.set_tracking_uri(None)


def retrain_in_process(project: Path, C: float) -> None:
    """The training step, in process, on a project that ran main.py: another model (C)."""
    from utils.config import load_project_config
    from utils.layout import Layout
    from utils.runtime.steps import TrainingParams

    training = load_script("02_training/train.py", "risk_training_step_in_process")
    config = load_project_config(project)
    layout, schema = Layout.from_config(config, project), config.schema
    training.run(
        TrainingParams(
            finaldata=layout.finaldata, model_dir=layout.model_dir,
            store_url=f"sqlite:///{project / 'monitoring.db'}", target=schema.target,
            features=",".join(schema.features), id_columns=",".join(schema.id_columns), C=C,
            max_iter=config.model.max_iter, solver=config.model.solver,
            random_state=config.model.random_state,
        )
    )  # fmt: skip


def deploy_in_process(project: Path, strategy: str, keep: int = 5) -> None:
    """The deployment step, in process, with ``strategy`` (replace or shadow)."""
    from utils.config import load_project_config
    from utils.layout import Layout
    from utils.runtime.steps import DeploymentParams

    deployment = load_script("04_deployment/deployment.py", "risk_deployment_step_in_process")
    config = load_project_config(project)
    layout = Layout.from_config(config, project)
    deployment.run(
        DeploymentParams(
            model_dir=layout.model_dir, ingested_dir=layout.ingested_dir,
            deployment_dir=layout.deployment_dir,
            registered_model_name=config.main.registered_model_name, keep_releases=keep,
            strategy=strategy, store_url=f"sqlite:///{project / 'monitoring.db'}",
        )
    )  # fmt: skip

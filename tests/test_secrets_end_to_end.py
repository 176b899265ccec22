"""A password in store.url (or a webhook's URL) reaches no log, no MLflow run or artifact, no
store row and no report, from main.py or from fullprocess.py (slow; needs PostgreSQL, which
accepts any password from loopback in the tests' server)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from conftest import run_in, user_env

pytestmark = pytest.mark.integration
# Made at run time, so that the project's own files (this one) cannot contain it.
PASSWORD = f"Pw-{uuid.uuid4().hex}"


def leaks_in_files(folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and ".venv" not in path.parts:
            data = path.read_bytes()
            if PASSWORD.encode() in data:
                found.append(str(path.relative_to(folder)))
    return found


def leaks_in_database(url: str) -> list[str]:
    engine = create_engine(url)
    found = []
    with engine.connect() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        for table in list(tables):
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                if PASSWORD in str(tuple(row)):
                    found.append(table)
    engine.dispose()
    return found


def test_a_store_password_appears_nowhere(project_copy, postgres_url):
    url = make_url(postgres_url).set(password=PASSWORD).render_as_string(hide_password=False)
    # The webhook's path is a secret too; nothing listens there: the alerts fail quietly.
    env = user_env(
        RISK_API_TOKEN="api-token-" + PASSWORD, RISK_ALERT_WEBHOOK=f"http://127.0.0.1:9/{PASSWORD}"
    )
    pipeline = run_in(project_copy, "main.py", f"store.url={url}", env=env)
    automation = run_in(project_copy, "fullprocess.py", f"store.url={url}", env=env)
    assert "redeployed" in automation.stderr
    for name, proc in (("main.py", pipeline), ("fullprocess.py", automation)):
        assert PASSWORD not in proc.stdout + proc.stderr, f"{name}'s log"
    # mlflow.db, the run artifacts (config.yaml above all), models/, reports, the API's answers.
    assert leaks_in_files(project_copy) == []
    assert leaks_in_database(postgres_url) == []

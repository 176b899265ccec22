"""Live monitoring's wiring in the automation: what becomes training data from the traffic."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from utils.automation.sources import SourceFile
from utils.config import load_project_config
from utils.data.schema import DataSchema, read_dataset

FEATURES = ["lastmonth_activity", "lastyear_activity", "number_of_employees"]


def test_labelled_traffic_holds_the_data_contract_and_quotes_formula_ids(tmp_path, caplog):
    from utils.automation.monitor import write_labelled_traffic

    config = load_project_config(ROOT, [f"monitoring.labelled_traffic_dir={tmp_path / 'lt'}"])
    traffic = pd.DataFrame(
        {
            "request_id": ["r1", "r2", "r3", "r4", "r5"],
            "corporation": ['=HYPERLINK("http://x")', "-5", "@SUM(A1)", "abc", "big"],
            "lastmonth_activity": [1.0, 2.0, np.nan, 4.0, 1e308],
            "lastyear_activity": [1.0, 2.0, 3.0, 4.0, 5.0],
            "number_of_employees": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    truth = np.array([1.0, 0.0, 1.0, np.nan, 1.0])
    labels = [SourceFile(tmp_path / "labels.csv", "0" * 64)]
    with caplog.at_level(logging.WARNING):
        write_labelled_traffic(config, ROOT, traffic, truth, FEATURES, labels)
    assert "labelled traffic: 1 row(s) left out" in caplog.text and "'r5'" in caplog.text
    (written,) = (tmp_path / "lt").glob("labelled-traffic-*.csv")
    lines = written.read_text().splitlines()
    assert lines[1].startswith("\"'=HYPERLINK(") and lines[2].startswith("'-5,")
    assert lines[3].startswith("'@SUM(A1)") and len(lines) == 4, "r4 unlabelled, r5 refused"
    schema = DataSchema("exited", tuple(FEATURES), ("corporation",))
    again = read_dataset(written, schema)
    assert len(again) == 3 and again["exited"].tolist() == [1, 0, 1], "ingestion takes it"


def log_requests(log_dir, rows: int, segments: int, seed: int) -> None:
    """``rows`` answered rows of the demo's distribution, in ``segments`` flushes."""
    from utils.data.demo import generate_rows
    from utils.monitoring.prediction_log import LoggedRequest, PredictionLog

    data = generate_rows(rows, seed=seed)
    log = PredictionLog(log_dir)
    for part in np.array_split(np.arange(rows), segments):
        for i in part:
            log.append(
                LoggedRequest(
                    f"r{seed}-{i}", "1", tuple(FEATURES), data.loc[[i], FEATURES].to_numpy(float),
                    [0.5], [1], {"corporation": [str(data.loc[i, "corporation"])]},
                )
            )  # fmt: skip
        log.flush()


@pytest.mark.integration
def test_monitoring_reads_only_the_new_segments_and_gives_what_a_full_run_gives(
    deployed_project, monkeypatch
):
    from utils.automation.assess import open_store
    from utils.automation.monitor import check_monitoring
    from utils.automation.monitor_state import STATE_NAME, TAIL_NAME
    from utils.monitoring import log_cursor

    project = deployed_project
    config = load_project_config(project, ["monitoring.chunk_rows=100"])
    log_dir = project / config.monitoring.log_dir
    monitoring = project / "models" / "monitoring.json"
    store = open_store(config, project)
    read: list[str] = []
    original = log_cursor.read_segment
    monkeypatch.setattr(log_cursor, "read_segment", lambda p: read.append(p.name) or original(p))

    log_requests(log_dir, 250, 3, seed=1)
    assert "monitoring: 3 chunk(s)" in check_monitoring(config, project, [], store, False)
    assert len(read) == 3
    first = json.loads(monitoring.read_text())["chunks"]
    read.clear()
    log_requests(log_dir, 180, 2, seed=2)
    assert "monitoring: 5 chunk(s)" in check_monitoring(config, project, [], store, False)
    assert len(read) == 2, "only the two new segments are read"
    incremental = json.loads(monitoring.read_text())["chunks"]
    assert incremental[:2] == first[:2], "closed chunks are kept as they were"
    assert [c["rows"] for c in incremental] == [100, 100, 100, 100, 30]
    recent = pd.read_parquet(project / "models" / "monitoring-recent.parquet")
    assert len(recent) == 30 and set(recent["source"]) == {"traffic"}, "the newest chunk's rows"
    assert recent["probability"].between(0, 1).all()
    assert set(config.data.features) < set(recent.columns)

    for kept in (STATE_NAME, TAIL_NAME, "monitoring.json"):
        (project / "models" / kept).unlink()
    read.clear()
    check_monitoring(config, project, [], store, False)
    assert len(read) == 5, "no state: the whole log is read"
    assert json.loads(monitoring.read_text())["chunks"] == incremental
    store.close()


@pytest.mark.integration
def test_chunks_carry_the_challenger_compared_on_the_rows_it_answered(
    deployed_project, registry_of
):
    """deployment.strategy shadow: the monitoring scores every row with the challenger too and
    compares the two on the labelled rows logged since it arrived; the automation waits for
    enough of them."""
    import time

    from conftest import deploy_in_process, retrain_in_process
    from utils.automation.assess import open_store
    from utils.automation.challenger import Command, settle
    from utils.automation.monitor import check_monitoring
    from utils.data.demo import generate_rows
    from utils.ops.alerts import Webhook

    project = deployed_project
    registry_of(project)
    config = load_project_config(project, ["monitoring.chunk_rows=100"])
    log_dir = project / config.monitoring.log_dir
    log_requests(log_dir, 100, 1, seed=1)
    time.sleep(1.1)  # the release's time has whole seconds
    retrain_in_process(project, C=0.05)
    deploy_in_process(project, "shadow")
    log_requests(log_dir, 100, 1, seed=2)
    labels = project / config.monitoring.labels_dir
    labels.mkdir(parents=True, exist_ok=True)
    truth = {f"r{seed}-{i}": int(generate_rows(100, seed=seed).loc[i, "exited"])
             for seed in (1, 2) for i in range(100)}  # fmt: skip
    pd.DataFrame({"request_id": list(truth), "exited": list(truth.values())}).to_csv(
        labels / "labels.csv", index=False
    )
    store = open_store(config, project)
    assert "monitoring: 2 chunk(s)" in check_monitoring(config, project, [], store, False)
    before, after = json.loads((project / "models" / "monitoring.json").read_text())["chunks"]
    for chunk in (before, after):
        entry = chunk["challenger"]
        assert entry["version"] == "2" and entry["labelled_rows"] == 100
        assert 0 <= entry["realized"]["f1"] <= 1 and 0 <= entry["estimated"]["f1"] <= 1
    # Compared on the rows it answered as the challenger only: none before it arrived.
    assert before["challenger"]["paired"]["rows"] == 0
    assert before["challenger"]["comparison"] is None
    assert after["challenger"]["paired"]["rows"] == 100
    comparison = after["challenger"]["comparison"]
    assert comparison["champion_f1"] == pytest.approx(after["realized"]["f1"])
    assert comparison["challenger_f1"] == pytest.approx(after["challenger"]["realized"]["f1"])
    command = Command(config, project, [], False, Webhook(None))
    assert settle(command) == "challenger v2: 100 of 200 labelled rows so far"
    store.close()

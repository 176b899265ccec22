"""Live monitoring's wiring in the automation: what becomes training data from the traffic."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

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

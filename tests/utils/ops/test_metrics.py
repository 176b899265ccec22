"""The automation's textfile for node-exporter, and the API's metric families."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from utils.ops.metrics import api_metrics, write_run_textfile


def samples(path) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }


def test_a_run_writes_when_how_long_and_how_it_ended(tmp_path):
    path = tmp_path / "collector" / "risk.prom"
    write_run_textfile(path, "nothing", True, 1000.0, 0.25)
    assert samples(path) == {
        ("risk_fullprocess_last_run_timestamp_seconds", ()): 1000.0,
        ("risk_fullprocess_last_run_duration_seconds", ()): 0.25,
        ("risk_fullprocess_last_run_success", ()): 1.0,
        ("risk_fullprocess_last_run_outcome", (("outcome", "nothing"),)): 1.0,
        ("risk_fullprocess_last_success_timestamp_seconds", ()): 1000.0,
    }


def test_a_failed_run_keeps_the_last_success_time(tmp_path):
    path = tmp_path / "risk.prom"
    write_run_textfile(path, "retrain", True, 1000.0, 30.0)
    write_run_textfile(path, "failed", False, 2000.0, 1.0)
    written = samples(path)
    assert written[("risk_fullprocess_last_run_success", ())] == 0.0
    assert written[("risk_fullprocess_last_run_timestamp_seconds", ())] == 2000.0
    assert written[("risk_fullprocess_last_success_timestamp_seconds", ())] == 1000.0
    assert written[("risk_fullprocess_last_run_outcome", (("outcome", "failed"),))] == 1.0


def test_a_first_run_that_fails_has_no_success_time(tmp_path):
    path = tmp_path / "risk.prom"
    write_run_textfile(path, "failed", False, 2000.0, 1.0)
    assert ("risk_fullprocess_last_success_timestamp_seconds", ()) not in samples(path)
    assert not list(tmp_path.glob("*.tmp*")), "written through a temporary file"


def test_predictions_count_rows_and_classes():
    from prometheus_client import REGISTRY

    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    metrics = api_metrics()
    before = (
        value("risk_api_rows_predicted_total"),
        value("risk_api_predictions_total", predicted_class="1"),
    )
    metrics.predicted([1, 0, 1, 1])
    assert value("risk_api_rows_predicted_total") == before[0] + 4
    assert value("risk_api_predictions_total", predicted_class="1") == before[1] + 3
    metrics.serving("8", "7")
    assert value("risk_api_model_version", version="8") == 1
    assert value("risk_api_model_version", version="7") == 0

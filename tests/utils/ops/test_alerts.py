"""Alerts: which events alert and what they say, and the webhook's tries, against a real
receiver on loopback."""

from __future__ import annotations

import logging

import pytest

from utils.ops.alerts import ALERTS, AlertingStore, Webhook, alert_for
from utils.ops.events import EventKind

SCORE = {"method": "raw", "threshold": 0.8, "new_f1": 0.6, "deployed_f1": 0.8}
FEATURE = {"feature": "a", "drift": True}


@pytest.mark.parametrize(
    ("kind", "event", "text"),
    [
        (EventKind.SCORE_DRIFT, {**SCORE, "drift": True},
         "score drift: F1 0.6000 on new data is below the threshold 0.8000 (raw)"),
        (EventKind.SCORE_DRIFT, {**SCORE, "drift": False}, None),
        (EventKind.DATA_DRIFT,
         {"dataset_drift": True, "tested": 2, "features": [FEATURE, {"feature": "b"}]},
         "data drift in 1 of 2: a"),
        (EventKind.DATA_DRIFT, {"dataset_drift": False, "features": [FEATURE]}, None),
        (EventKind.MONITORING,
         {"new_alerts": [{"alert_reasons": ["x"]}, {"alert_reasons": ["x", "y"]}]},
         "live monitoring: 2 new chunk alert(s): x; y"),
        (EventKind.MONITORING, {"new_alerts": [], "chunks": [{"alert": True}]}, None),
        (EventKind.DECISION, {"outcome": "redeployed", "previous_version": 1},
         "redeployed: a new model serves now (was v1)"),
        (EventKind.DECISION, {"outcome": "first deployment"},
         "first deployment: a new model serves now"),
        (EventKind.DECISION, {"outcome": "kept"}, None),
        (EventKind.DECISION, {"outcome": "no drift"}, None),
        (EventKind.ROLLBACK, {"from_version": "3", "to_version": "2"}, "rolled back: v3 -> v2"),
        (EventKind.REFUSED_RELEASE, {"release": "r9", "reason": "sha256", "serving_version": 2},
         "release r9 refused (sha256); still serving v2"),
        (EventKind.FAILED_RUN, {"error": "boom"}, "run failed: boom"),
        (EventKind.INGESTION, {"rows": 3}, None),
    ],
)  # fmt: skip
def test_which_events_alert_and_what_they_say(kind, event, text):
    alert = alert_for(kind, event, "7")
    assert (alert and alert.text) == text
    if alert:
        assert alert.body("fp@host") == {
            "text": f"[fp@host] {text}", "kind": str(kind), "source": "fp@host",
            "model_version": "7", "event": event,
        }  # fmt: skip


def test_every_alerting_kind_is_an_event_kind():
    assert set(ALERTS) <= set(EventKind)


def test_the_webhook_gets_the_alert_as_json(webhook):
    sent = Webhook(webhook.url).notify(EventKind.FAILED_RUN, {"error": "disk full"})
    assert sent and webhook.texts() == ["[risk-monitoring] run failed: disk full"]
    assert webhook.posts[0]["event"] == {"error": "disk full"}


def test_a_failing_webhook_is_tried_again_then_given_up_with_a_warning(webhook, caplog):
    waits: list[float] = []
    hook = Webhook(webhook.url, timeout_s=2, retries=2, sleep=waits.append)
    webhook.statuses = [500, 503]
    assert hook.notify(EventKind.FAILED_RUN, {"error": "x"})
    assert waits == [0.5, 1.0] and len(webhook.posts) == 1
    webhook.statuses = [500, 500, 500]
    with caplog.at_level(logging.WARNING, logger="utils.ops.alerts"):
        assert not hook.notify(EventKind.FAILED_RUN, {"error": "x"})
    assert "could not send the alert to http://127.0.0.1 after 3 tries" in caplog.text
    assert "secret-path" not in caplog.text, "the webhook's path is its secret"


def test_an_unreachable_webhook_never_raises(free_port):
    hook = Webhook(f"http://127.0.0.1:{free_port}/x", timeout_s=1, retries=1, sleep=lambda s: None)
    assert not hook.notify(EventKind.FAILED_RUN, {"error": "x"})


def test_no_url_sends_nothing():
    def post(*args):
        raise AssertionError("sent")

    hook = Webhook(None, post=post)
    assert not hook.notify(EventKind.FAILED_RUN, {"error": "x"})
    hook.send_in_background(alert_for(EventKind.FAILED_RUN, {"error": "x"}))


def test_the_alerting_store_records_then_alerts(webhook):
    recorded = []

    class Store:
        def record_event(self, kind, payload, model_version=None):
            recorded.append((kind, payload, model_version))

        def count(self):
            return len(recorded)

    store = AlertingStore(Store(), Webhook(webhook.url))
    store.record_event(EventKind.DECISION, {"outcome": "redeployed", "previous_version": 1}, "2")
    store.record_event(EventKind.DECISION, {"outcome": "kept"}, "2")
    assert store.count() == 2, "everything else is the store's"
    assert webhook.texts() == ["[risk-monitoring] redeployed: a new model serves now (was v1)"]
    assert webhook.posts[0]["model_version"] == "2"

"""Alerts: which events alert and what they say, and the webhook's tries, against a real
receiver on loopback."""

from __future__ import annotations

import logging

import pytest

from conftest import WebhookReceiver
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
        (EventKind.DATA_DRIFT,
         {"dataset_drift": False, "features": [FEATURE],
          "multivariate": {"drifted": True, "statistic": 0.71, "contributors": [["n1", 0.2]]}},
         "multivariate data drift (AUC 0.710; most: n1)"),
        (EventKind.DATA_DRIFT,
         {"dataset_drift": True, "tested": 1, "features": [FEATURE],
          "multivariate": {"drifted": True, "statistic": 0.6, "contributors": []}},
         "data drift in 1 of 1: a; multivariate data drift (AUC 0.600)"),
        (EventKind.DATA_DRIFT,
         {"dataset_drift": False, "features": [], "multivariate": {"drifted": False}}, None),
        (EventKind.DATA_DRIFT, {"dataset_drift": False, "features": [], "multivariate": None},
         None),
        (EventKind.MONITORING,
         {"new_alerts": [{"alert_reasons": ["x"]}, {"alert_reasons": ["x", "y"]}]},
         "live monitoring: 2 new chunk alert(s): x; y"),
        (EventKind.MONITORING, {"new_alerts": [], "chunks": [{"alert": True}]}, None),
        (EventKind.DECISION, {"outcome": "redeployed", "previous_version": 1},
         "redeployed: a new model serves now (was v1)"),
        (EventKind.DECISION, {"outcome": "first deployment"},
         "first deployment: a new model serves now"),
        (EventKind.DECISION,
         {"outcome": "challenger deployed", "previous_version": 1, "challenger_version": 2},
         "challenger v2 deployed beside champion v1: it answers every request in the shadow; "
         "the champion serves until the labels decide"),
        (EventKind.DECISION, {"outcome": "kept"}, None),
        (EventKind.DECISION, {"outcome": "no drift"}, None),
        (EventKind.ROLLBACK, {"from_version": "3", "to_version": "2"}, "rolled back: v3 -> v2"),
        (EventKind.CHALLENGER, {"action": "promoted", "previous_version": "2", "reason": "by hand"},
         "challenger promoted (by hand): it serves now (was v2)"),
        (EventKind.CHALLENGER, {"action": "rejected", "reason": "worse"},
         "challenger rejected (worse); the champion serves on"),
        (EventKind.CHALLENGER, {"action": "arrived"}, None),
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


class RawServer:
    """A TCP server on loopback that answers every connection with ``answer(connection)``."""

    def __init__(self, answer) -> None:
        import socketserver
        import threading

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.recv(65536)
                answer(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def trickle(connection) -> None:
    """One byte of a valid answer every 0.1 s: each read is quick, the answer never ends."""
    import time

    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 600:
        try:
            connection.sendall(bytes([byte]))
        except OSError:
            return
        time.sleep(0.1)


def not_http(connection) -> None:
    connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")


def silence(connection) -> None:
    import time

    time.sleep(5)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (trickle, "TimeoutError: no complete answer within 0.5 s"),
        # The socket's own timeout and the deadline end it at the same moment: either says so.
        (silence, "TimeoutError: "),
        (not_http, "BadStatusLine"),
    ],
)
def test_any_failure_of_a_try_is_one_warning_and_the_deadline_covers_the_whole_answer(
    answer, reason, caplog
):
    server = RawServer(answer)
    try:
        hook = Webhook(server.url, timeout_s=0.5, retries=0)
        with caplog.at_level(logging.WARNING, logger="utils.ops.alerts"):
            assert not hook.notify(EventKind.FAILED_RUN, {"error": "x"})
    finally:
        server.close()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and reason in warnings[0], warnings


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:notaport/x",
        "http://[::1/x",
        "ftp://127.0.0.1/x",
        "http:///no-host",
        "http://127.0.0.1:99999/x",
        "http://host with spaces/x",
    ],
)
def test_a_malformed_url_is_one_warning_never_an_exception(url, caplog):
    hook = Webhook(url, timeout_s=0.5, retries=1, sleep=lambda s: None)
    with caplog.at_level(logging.WARNING, logger="utils.ops.alerts"):
        assert not hook.notify(EventKind.FAILED_RUN, {"error": "x"})
    assert len(caplog.records) == 1 and "could not send the alert" in caplog.text


def test_a_redirect_is_not_followed(webhook):
    elsewhere = WebhookReceiver()
    try:
        webhook.location = elsewhere.url
        webhook.statuses = [302]
        hook = Webhook(webhook.url, timeout_s=2, retries=2, sleep=lambda s: None)
        assert not hook.notify(EventKind.FAILED_RUN, {"error": "x"})
        assert elsewhere.posts == [] and elsewhere.headers == []
        assert len(webhook.headers) == 1, "a redirect is not tried again either"
    finally:
        elsewhere.close()


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_logged(webhook, capsys):
    import base64
    from urllib.parse import urlsplit

    from utils.runtime.logs import configure_logging

    configure_logging("DEBUG")
    parts = urlsplit(webhook.url)
    with_credentials = f"http://alerts:pa55-w0rd@{parts.netloc}{parts.path}"
    assert Webhook(with_credentials).notify(EventKind.FAILED_RUN, {"error": "x"})
    expected = base64.b64encode(b"alerts:pa55-w0rd").decode()
    assert webhook.headers[-1]["Authorization"] == f"Basic {expected}"

    def refuse(url, body, timeout_s):
        raise OSError(f"cannot reach alerts:pa55-w0rd@{parts.netloc}")

    hook = Webhook(with_credentials, retries=0, post=refuse)
    assert not hook.notify(EventKind.FAILED_RUN, {"error": f"see {with_credentials}"})
    logged = capsys.readouterr().err
    assert "could not send the alert" in logged and "pa55-w0rd" not in logged

"""Alerts: a JSON POST to a webhook when something needs a person.

Which events alert, and what they say, is one table (``ALERTS``): score drift, data drift, an
estimated-performance alert, a (re)deployment, a rollback, a refused release and a failed run.
The message carries Slack's ``text`` field (so a Slack incoming webhook shows it as is) and the
structured event. Sending never fails nor holds up the caller for long: each try has one
deadline for all of it (name lookup, connect, send, the whole answer), a few retries back off,
and whatever goes wrong (down, slow, a non-HTTP answer, a malformed URL) is one warning in the
log. A redirect is not followed: an alert goes where it was configured to go or nowhere.
Credentials in the URL (``user:password@``) are sent as Basic authentication and masked in
every log line. No URL configured: nothing is sent. Standard library only (every entry point
loads it).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from utils.automation.decisions import Outcome
from utils.ops.events import EventKind

log = logging.getLogger(__name__)

# Outcomes of the automation's decision that put another model in production.
DEPLOYING_OUTCOMES = (Outcome.FIRST_DEPLOYMENT, Outcome.REDEPLOYED)


@dataclass(frozen=True)
class Alert:
    kind: EventKind
    text: str
    event: dict[str, Any]
    model_version: str | None = None

    def body(self, source: str) -> dict[str, Any]:
        return {
            "text": f"[{source}] {self.text}",
            "kind": str(self.kind),
            "source": source,
            "model_version": self.model_version,
            "event": self.event,
        }


def _score_drift(event: dict) -> str | None:
    if not event.get("drift"):
        return None
    return (
        f"score drift: F1 {event['new_f1']:.4f} on new data is below the threshold "
        f"{event['threshold']:.4f} ({event['method']})"
    )


def _data_drift(event: dict) -> str | None:
    joint = event.get("multivariate") or {}
    parts = []
    if event.get("dataset_drift"):
        drifted = [f["feature"] for f in event.get("features", []) if f.get("drift")]
        parts.append(f"data drift in {len(drifted)} of {event.get('tested', '?')}: "
                     f"{', '.join(drifted)}")  # fmt: skip
    if joint.get("drifted"):
        top = ", ".join(name for name, _ in joint.get("contributors") or [])
        parts.append(f"multivariate data drift (AUC {joint.get('statistic', 0):.3f}"
                     + (f"; most: {top})" if top else ")"))  # fmt: skip
    return "; ".join(parts) or None


def _monitoring(event: dict) -> str | None:
    new = event.get("new_alerts") or []
    if not new:
        return None
    reasons = sorted({reason for chunk in new for reason in chunk.get("alert_reasons", [])})
    return f"live monitoring: {len(new)} new chunk alert(s): {'; '.join(reasons)}"


def _decision(event: dict) -> str | None:
    outcome = event.get("outcome")
    if outcome == Outcome.CHALLENGER:
        return (
            f"challenger v{event.get('challenger_version')} deployed beside champion "
            f"v{event.get('previous_version')}: it answers every request in the shadow; the "
            "champion serves until the labels decide"
        )
    if outcome not in DEPLOYING_OUTCOMES:
        return None
    previous = event.get("previous_version")
    was = f" (was v{previous})" if previous is not None else ""
    return f"{outcome}: a new model serves now{was}"


def _rollback(event: dict) -> str | None:
    return f"rolled back: v{event.get('from_version')} -> v{event.get('to_version')}"


def _challenger(event: dict) -> str | None:
    action, reason = event.get("action"), event.get("reason")
    if action == "promoted":
        was = event.get("previous_version")
        return f"challenger promoted ({reason}): it serves now (was v{was})"
    if action == "rejected":
        return f"challenger rejected ({reason}); the champion serves on"
    return None  # its arrival alerts as the automation's decision


def _refused_release(event: dict) -> str | None:
    return (
        f"release {event.get('release')} refused ({event.get('reason')}); "
        f"still serving v{event.get('serving_version')}"
    )


def _failed_run(event: dict) -> str | None:
    return f"run failed: {event.get('error')}"


# Every event kind that can alert, and the text when this event does (None: it does not).
ALERTS: dict[EventKind, Callable[[dict], str | None]] = {
    EventKind.SCORE_DRIFT: _score_drift,
    EventKind.DATA_DRIFT: _data_drift,
    EventKind.MONITORING: _monitoring,
    EventKind.DECISION: _decision,
    EventKind.ROLLBACK: _rollback,
    EventKind.CHALLENGER: _challenger,
    EventKind.REFUSED_RELEASE: _refused_release,
    EventKind.FAILED_RUN: _failed_run,
}


def alert_for(kind: EventKind, event: dict, model_version: str | None = None) -> Alert | None:
    """The alert ``event`` of ``kind`` raises, if any (a pure decision)."""
    describe = ALERTS.get(kind)
    text = describe(event) if describe else None
    return None if text is None else Alert(kind, text, event, model_version)


# How much of a webhook's answer is read: its status is what counts.
_MAX_ANSWER_BYTES = 64 * 1024


def _post_json(url: str, body: bytes, timeout_s: float) -> int:
    """POST ``body`` to ``url``; the answer's HTTP status.

    A socket timeout bounds each read, not the exchange: a webhook that trickles one byte
    every half second held a run 13.6 s with a timeout of 1 s. So the exchange runs in a
    thread given ``timeout_s`` in all, and a late one is abandoned with its socket shut down.
    http.client, not urllib: urllib follows redirects, to any host and port.
    """
    import http.client
    from urllib.parse import unquote

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL")
    connection_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_type(parts.hostname, parts.port, timeout=timeout_s)
    headers = {"Content-Type": "application/json"}
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    outcome: dict[str, Any] = {}

    def exchange() -> None:
        try:
            connection.request("POST", target, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read(_MAX_ANSWER_BYTES)
            outcome["status"] = answer.status
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = err

    worker = threading.Thread(target=exchange, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        with contextlib.suppress(OSError, AttributeError):
            connection.sock.shutdown(socket.SHUT_RDWR)
        raise TimeoutError(f"no complete answer within {timeout_s:g} s")
    connection.close()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["status"]


def _worth_retrying(status: int) -> bool:
    """A server error or a timeout may pass; a redirect or a refusal will not."""
    return status >= 500 or status in (408, 429)


class Webhook:
    """Where alerts go. ``url`` None: nowhere."""

    def __init__(
        self,
        url: str | None,
        timeout_s: float = 5.0,
        retries: int = 2,
        source: str = "risk-monitoring",
        post: Callable[[str, bytes, float], int] = _post_json,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from utils.secrets import register_secret, url_password

        self.url, self.timeout_s, self.retries, self.source = url, timeout_s, retries, source
        self._post, self._sleep = post, sleep
        # Masked in every log line of this process, whoever logs it (http.client, a thread).
        register_secret(url)
        register_secret(url_password(url))

    @classmethod
    def from_config(cls, alerts, program: str) -> Webhook:
        """From config.yaml's ``alerts`` section; the source names the program and the host
        (several hosts may send)."""
        import socket

        return cls(alerts.webhook_url, alerts.timeout_s, alerts.retries,
                   f"{program}@{socket.gethostname()}")  # fmt: skip

    @property
    def where(self) -> str:
        """The webhook's host only: its path is often the secret (Slack's is)."""
        try:
            parts = urlsplit(self.url or "")
            host = parts.hostname
        except ValueError:
            return "(a malformed webhook URL)"
        return f"{parts.scheme}://{host}" if host else "(no webhook)"

    def send(self, alert: Alert) -> bool:
        """POST ``alert``; True once the webhook took it. Never raises."""
        if not self.url:
            return False
        from utils.secrets import mask_data

        body = json.dumps(mask_data(alert.body(self.source)), default=str).encode()
        tries = 0
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(0.5 * 2 ** (attempt - 1))
            tries += 1
            try:
                status = self._post(self.url, body, self.timeout_s)
            except Exception as err:  # noqa: BLE001 - an alert never fails the run that sends it
                reason = f"{type(err).__name__}: {err}"
            else:
                if 200 <= status < 300:
                    log.info("alert sent to %s: %s", self.where, alert.text)
                    return True
                reason = f"HTTP {status}"
                if 300 <= status < 400:
                    reason += " (a redirect: not followed)"
                if not _worth_retrying(status):
                    break
            log.debug("alert to %s, try %d: %s", self.where, attempt + 1, reason)
        log.warning(
            "could not send the alert to %s after %d tr%s (%s): %s",
            self.where, tries, "y" if tries == 1 else "ies", reason, alert.text,
        )  # fmt: skip
        return False

    def send_in_background(self, alert: Alert) -> None:
        """For the API: the request that found it does not wait for the webhook."""
        if self.url:
            threading.Thread(target=self.send, args=(alert,), daemon=True).start()

    def notify(self, kind: EventKind, event: dict, model_version: str | None = None) -> bool:
        alert = alert_for(kind, event, model_version)
        return self.send(alert) if alert is not None else False


class AlertingStore:
    """The monitoring store, alerting on the events it records that call for a person."""

    def __init__(self, store, webhook: Webhook) -> None:
        self._store, self.webhook = store, webhook

    def record_event(self, kind, payload: dict, model_version: str | None = None) -> None:
        self._store.record_event(kind, payload, model_version)
        self.webhook.notify(EventKind(kind), payload, model_version)

    def __getattr__(self, name: str):
        return getattr(self._store, name)

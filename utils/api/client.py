"""The scoring API's client: call every endpoint of ``utils.api.endpoints`` and write the
answers (apireturns.txt); wait for a starting server. 06_reporting/apicalls.py is its
command line; the reporting step and the tests use it directly."""

from __future__ import annotations

import json
import logging
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils import layout
from utils.api.endpoints import ENDPOINTS
from utils.errors import PipelineError
from utils.files import atomic_write_text

log = logging.getLogger(__name__)

RETURNS_NAME = layout.API_RETURNS
# Answers written whole to apireturns.txt; others are summed up by their size.
SHOWN_WHOLE = frozenset({"application/json", "text/plain"})


@dataclass(frozen=True)
class Answer:
    method: str
    path: str
    status: int
    body: object


def wait_for_health(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    """Return once ``server`` answers /health with 200; PipelineError if it exits first or
    ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise PipelineError(f"the API server exited with code {server.returncode}")
        try:
            if call(url, "GET", "/health", timeout=2).status == 200:
                return
        except PipelineError:
            pass
        time.sleep(0.2)
    raise PipelineError(f"{url}: the API did not report healthy within {seconds:.0f} s")


def call(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str | None = None,
    token: str | None = None,
    timeout: float = 30.0,
) -> Answer:
    headers = {"Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        base_url.rstrip("/") + path, data=body, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
            media_type = answer.headers.get_content_type()
    except urllib.error.HTTPError as err:
        status, raw, media_type = err.code, err.read(), err.headers.get_content_type()
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise PipelineError(f"{base_url}: API not reachable ({reason})") from None
    if media_type not in SHOWN_WHOLE:
        # A page, a script or a style is for a browser: its size says it was served.
        return Answer(method, path, status, f"({len(raw):,} bytes of {media_type})")
    try:
        parsed: object = json.loads(raw)
    except ValueError:
        parsed = raw.decode("utf-8", errors="replace")
    return Answer(method, path, status, parsed)


def call_all(
    base_url: str, prediction: tuple[str, bytes], token: str | None = None
) -> list[Answer]:
    """Every endpoint once, in the table's order; ``prediction`` is the (content type, body)
    of the POST."""
    content_type, body = prediction
    return [
        call(base_url, "POST", e.path, body, content_type, token)
        if e.method == "POST"
        else call(base_url, e.method, e.path, token=token)
        for e in ENDPOINTS
    ]


def format_answers(answers: list[Answer]) -> str:
    blocks = [
        f"{a.method} {a.path}\nstatus: {a.status}\n"
        f"{a.body.rstrip() if isinstance(a.body, str) else json.dumps(a.body, indent=2)}\n"
        for a in answers
    ]
    return "\n".join(blocks)


def write_answers(answers: list[Answer], path: Path) -> None:
    """Write every answer, then fail (after writing) if any was not 2xx."""
    atomic_write_text(Path(path), format_answers(answers))
    later = {e.path for e in ENDPOINTS if e.later}
    failed = [
        f"{a.method} {a.path} -> {a.status}"
        for a in answers
        if not 200 <= a.status < 300 and not (a.status == 503 and a.path in later)
    ]
    if failed:
        raise PipelineError(f"{path}: non-2xx answers: {'; '.join(failed)}")


def prediction_request(data_dir: Path, dataset: Path, max_rows: int) -> tuple[str, bytes]:
    """Name the data set by filepath when it is in the data folder and within the API's row
    limit; else send its first ``max_rows`` rows as CSV (the call shows the endpoint works,
    it is not how a large set is scored)."""
    head = _head_lines(Path(dataset), max_rows + 1)
    if len(head) <= max_rows + 1:
        try:
            relative = Path(dataset).resolve().relative_to(Path(data_dir).resolve())
        except ValueError:
            pass
        else:
            return "application/json", json.dumps({"filepath": relative.as_posix()}).encode()
    return "text/csv", b"".join(head[: max_rows + 1])


def _head_lines(path: Path, count: int) -> list[bytes]:
    """The first ``count`` lines of ``path``, plus one more if there is one."""
    with open(path, "rb") as handle:
        return [line for _, line in zip(range(count + 1), handle, strict=False)]


def api_url(api: Any, environ: Mapping[str, str]) -> str:
    """Where serve.sh serves: config's api.host, and PORT when set (as serve.sh reads it)."""
    return f"http://{api.host}:{environ.get('PORT') or api.port}"

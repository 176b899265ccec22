"""Hostile requests against the real API (gunicorn, 2 workers, as configured): the widest
bodies at the size limit, and /health while thousands of idle connections are open.

    python benchmarks/hostile.py [--mb 10] [--idle 2000] [--repeat 3]

Each shape is as wide as the body limit allows (JSON keys, repeated keys, dataframe_split
columns, empty objects, empty lists, numbers, a CSV header, CSV rows) and is sent --repeat
times; its time is the median, from the first byte sent to the last byte of the answer. A
valid one-row request is the baseline. Issue 22's targets: every shape answered within 1 s
on 2 cores, /health within 1 s while 2,000 idle sockets are open. The last line is one JSON
object: max_body_s, worst_shape, health_idle_s, health_s, one_row_s, body_mb, idle_sockets.
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a script run from anywhere; the project is not installed

from utils.api.settings import ApiSettings  # noqa: E402
from utils.data.demo import generate_rows  # noqa: E402
from utils.data.schema import DataSchema  # noqa: E402
from utils.model.deployment import deploy  # noqa: E402
from utils.model.training import MODEL_FILE, ModelParams, save_model, train_model  # noqa: E402
from utils.runtime.processes import api_from_file, free_port, gunicorn_command, stop  # noqa: E402

FEATURES = ["lastmonth_activity", "lastyear_activity", "number_of_employees"]
SCHEMA = DataSchema("exited", tuple(FEATURES), ("corporation",))


def _fitted(build, size: int, guess: int) -> bytes:
    """``build(n)`` with the largest n (from ``guess`` down) whose body is at most ``size``."""
    n = guess
    body = build(n)
    while len(body) > size:
        n = int(n * size / len(body) * 0.999)
        body = build(n)
    return body


def shapes(size: int) -> dict[str, tuple[str, bytes]]:
    """Each hostile shape as (content type, body), as close to ``size`` bytes as it gets
    without going over (a body over the limit is refused before it is read)."""
    header = ",".join(FEATURES) + "\n"
    builders = {
        "json_keys": ("application/json", size // 12,
                      lambda n: "[{" + ",".join(f'"k{i}":0' for i in range(n)) + "}]"),
        "json_repeated_keys": ("application/json", size // 6,
                               lambda n: "[{" + ",".join(['"k":0'] * n) + "}]"),
        "split_columns": ("application/json", size // 9,
                          lambda n: '{"dataframe_split":{"columns":['
                          + ",".join(f'"c{i}"' for i in range(n)) + '],"data":[]}}'),
        "json_objects": ("application/json", size // 3,
                         lambda n: "[" + ",".join(["{}"] * n) + "]"),
        "json_lists": ("application/json", size // 3, lambda n: "[" + ",".join(["[]"] * n) + "]"),
        "json_numbers": ("application/json", size // 2,
                         lambda n: "[" + ",".join(["0"] * n) + "]"),
        "csv_header": ("text/csv", size // 8,
                       lambda n: ",".join(f"c{i}" for i in range(n)) + "\n"),
        "csv_rows": ("text/csv", size // 6, lambda n: header + "1,2,3\n" * n),
    }  # fmt: skip
    return {
        name: (kind, _fitted(lambda n, build=build: build(n).encode(), size, guess))
        for name, (kind, guess, build) in builders.items()
    }


def send(url: str, content_type: str, body: bytes, timeout: float = 120) -> tuple[int, float]:
    """The answer's status and the seconds from sending to the answer's last byte."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
            status = answer.status
    except urllib.error.HTTPError as err:
        err.read()
        status = err.code
    return status, time.perf_counter() - started


def health_s(base: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        with urllib.request.urlopen(f"{base}/health", timeout=60) as answer:
            answer.read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def prepare(scratch: Path, size: int) -> Path:
    """A deployed model and the API's settings file for it (bodies up to ``size`` bytes)."""
    models = scratch / "models"
    save_model(train_model(generate_rows(2000, seed=0), SCHEMA, ModelParams()), {}, models)
    (models / "latestscore.txt").write_text("0\n")
    (models / "ingestedfiles.txt").write_text("bench.csv\n")
    production = scratch / "production_deployment"
    names = (MODEL_FILE, "trainedmodel.pkl", "latestscore.txt", "ingestedfiles.txt")
    deploy({name: models / name for name in names}, production, {"model_version": "1"})
    settings = ApiSettings(
        deployment_dir=str(production), model_dir=str(models), finaldata=str(scratch / "x.csv"),
        test_data=str(scratch / "x.csv"), data_dir=str(scratch), target="exited",
        features=FEATURES, id_columns=["corporation"], max_body_bytes=size,
        log_dir=str(scratch / "predictions"),
    )  # fmt: skip
    path = scratch / "settings.json"
    path.write_text(settings.to_json())
    return path


def wait_for(base: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if send(f"{base}/prediction", "application/json", b"[[1,2,3]]", 5)[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the API at {base} did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="the body limit and body size")
    parser.add_argument("--idle", type=int, default=2000, help="idle connections for /health")
    parser.add_argument("--repeat", type=int, default=3, help="sends per shape (median)")
    args = parser.parse_args()
    size = int(args.mb * 1024 * 1024)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.idle + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.idle + 100), hard))

    scratch = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        gunicorn_command(api_from_file(prepare(scratch, size)), f"127.0.0.1:{port}", 2),
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    figures: dict[str, float] = {}
    try:
        wait_for(base)
        for _ in range(20):  # every worker has answered once
            send(f"{base}/prediction", "application/json", b"[[1,2,3]]")
        one_row = statistics.median(
            send(f"{base}/prediction", "application/json", b"[[1,2,3]]")[1] for _ in range(50)
        )
        print(f"one valid row: {one_row * 1000:.2f} ms")
        for name, (content_type, body) in shapes(size).items():
            answers = [send(f"{base}/prediction", content_type, body) for _ in range(args.repeat)]
            figures[name] = statistics.median(seconds for _, seconds in answers)
            statuses = sorted({status for status, _ in answers})
            print(f"{name:<20} {len(body) / 2**20:6.2f} MB  status {statuses}  "
                  f"{figures[name]:.3f} s ({figures[name] / one_row:,.0f}x one row)")  # fmt: skip
        quiet = health_s(base, 5)
        idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(args.idle)]
        try:
            time.sleep(0.5)
            busy = health_s(base, 5)
        finally:
            for sock in idle:
                sock.close()
        print(f"/health: {quiet * 1000:.1f} ms alone, {busy * 1000:.1f} ms with "
              f"{args.idle} idle connections open")  # fmt: skip
    finally:
        stop(server)
    worst = max(figures, key=figures.get)
    print(
        json.dumps(
            {
                "max_body_s": round(figures[worst], 4),
                "worst_shape": worst,
                "health_idle_s": round(busy, 4),
                "health_s": round(quiet, 4),
                "one_row_s": round(one_row, 5),
                "body_mb": args.mb,
                "idle_sockets": args.idle,
            }
        )
    )


if __name__ == "__main__":
    main()

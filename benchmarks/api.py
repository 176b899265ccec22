"""Throughput and latency of our API (gunicorn) against `mlflow models serve` on the same model.

    python benchmarks/api.py [--seconds 10] [--workers 2] [--rounds 3]

Both servers get the same model, the same worker count and the same request bodies (MLflow's
dataframe_records / dataframe_split formats, which both accept), loaded by wrk on loopback at
concurrency 8 (one wrk thread). Ours runs as configured by default (prediction log and metrics
on), and again with each of them off, and with a challenger deployed beside the champion
(deployment.strategy: shadow; the log's flusher scores every row with it too), in turns over
--rounds rounds (medians). In the same rounds, the ceiling: a bare WSGI app that reads the
body and answers a constant JSON of the same shape (benchmarks/ceiling_app.py) on the same
gunicorn settings, and that bare app again in a worker that has built ours too (the weight
of our app alone); every server writes serve.sh's access log, to a file. The last line is one
JSON object with the ratios (ours as configured by default); ``ceiling_ratio`` is our
single-row throughput over the ceiling's, ``shadow_ratio`` single-row throughput with a
challenger over without, ``shadow_rows_scored`` the share of the shadow server's logged rows
the challenger answered (1.0: every one).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a script run from anywhere; the project is not installed

from utils.api.settings import ApiSettings  # noqa: E402
from utils.data.demo import generate_rows  # noqa: E402
from utils.data.schema import DataSchema  # noqa: E402
from utils.layout import challenger_link  # noqa: E402
from utils.model.deployment import deploy  # noqa: E402
from utils.model.training import MODEL_FILE, ModelParams, save_model, train_model  # noqa: E402
from utils.runtime.processes import api_from_file, free_port, gunicorn_command, stop  # noqa: E402

CEILING_APP = "benchmarks.ceiling_app:app"
FEATURES = ["lastmonth_activity", "lastyear_activity", "number_of_employees"]
SCHEMA = DataSchema("exited", tuple(FEATURES), ("corporation",))
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "r")
wrk.body = f:read("*a")
f:close()
"""


def wait_until(url: str, body: bytes, seconds: float = 120, warm_requests: int = 20) -> None:
    """Wait for the server, then send a few requests so that every worker has answered once."""
    deadline = time.monotonic() + seconds
    answered = 0
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(
                url, data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                answered += answer.status == 200
                if answered >= warm_requests:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds} s")


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, body_file: Path, seconds: int, scratch: Path) -> dict[str, float]:
    script = scratch / f"{body_file.stem}.lua"
    script.write_text(LUA.format(body=body_file))
    out = subprocess.run(
        # One client thread: it drives 8 connections at over 5,000 requests/s, and a second
        # one only takes CPU from the server on a 2-core machine (p99 then measures the
        # scheduler: 15 ms for ours, whose keep-alive connections stay with their worker).
        ["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": to_ms(latency["50"]),
        "p99_ms": to_ms(latency["99"]),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def deploy_shadow(scratch: Path, data, models: Path) -> Path:
    """Another deployment folder: the same champion, and a challenger trained with another C."""
    production = scratch / "shadow" / "production_deployment"
    challenger = scratch / "challenger-model"
    save_model(train_model(data, SCHEMA, ModelParams(C=0.05)), {}, challenger)
    for source, link, version in (
        (models, production, "bench"),
        (challenger, challenger_link(production), "challenger"),
    ):
        deploy(
            {name: source / name for name in (MODEL_FILE, "trainedmodel.pkl")},
            production, {"model_version": version}, link=link,
        )  # fmt: skip
    return production


def prepare(scratch: Path) -> tuple[ApiSettings, str]:
    """A trained, deployed model (for ours) also logged to MLflow (for theirs)."""
    import mlflow
    import mlflow.sklearn

    data = generate_rows(5000, seed=0)
    model = train_model(data, SCHEMA, ModelParams())
    models = scratch / "models"
    save_model(model, {}, models)
    (models / "latestscore.txt").write_text("0\n")
    (models / "ingestedfiles.txt").write_text("bench.csv\n")
    production = scratch / "production_deployment"
    deploy(
        {
            name: models / name
            for name in (MODEL_FILE, "trainedmodel.pkl", "latestscore.txt", "ingestedfiles.txt")
        },
        production,
        {"model_version": "bench"},
    )
    mlflow.set_tracking_uri(f"sqlite:///{scratch / 'mlflow.db'}")
    from utils.model.tracking import model_pip_requirements

    example = data[FEATURES].head(5).astype("float64")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=example,
            pip_requirements=model_pip_requirements(),
            skops_trusted_types=["numpy.dtype"],
        )
    settings = ApiSettings(
        deployment_dir=str(production),
        model_dir=str(models),
        finaldata=str(scratch / "x.csv"),
        test_data=str(scratch / "x.csv"),
        data_dir=str(scratch),
        target="exited",
        features=FEATURES,
        id_columns=["corporation"],
        max_rows=100_000,
        max_body_bytes=50 * 1024 * 1024,
    )
    return settings, info.model_uri, deploy_shadow(scratch, data, models)


def start(command: list[str], env: dict[str, str], output: Path | None = None) -> subprocess.Popen:
    """A server whose standard output (gunicorn's access log) goes to ``output``, as
    ``./serve.sh >> api.log`` sends it: a file, not a terminal nor /dev/null."""
    with open(output or os.devnull, "ab") as out:
        return subprocess.Popen(
            command, env={**env, "PYTHONPATH": str(ROOT)}, stdout=out,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip


def scored_by_challenger(log_dir: Path) -> float:
    """The share of the logged rows that carry the challenger's answer."""
    from utils.monitoring.prediction_log import read_segments, segments

    rows = read_segments(segments(log_dir))
    if not len(rows) or "challenger_probability" not in rows.columns:
        return 0.0
    return round(1 - rows["challenger_probability"].null_count() / len(rows), 4)


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds (errors: the sum)."""
    return {
        key: (
            sum(r[key] for r in runs)
            if key == "errors"
            else statistics.median(r[key] for r in runs)
        )
        for key in runs[0]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per measurement")
    parser.add_argument("--workers", type=int, default=2, help="server workers, both servers")
    parser.add_argument(
        "--rounds", type=int, default=3, help="single-row rounds of our variants (medians)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    scratch = Path(tempfile.mkdtemp(prefix="bench-api-"))
    settings, model_uri, shadow_deployment = prepare(scratch)
    rows = generate_rows(1000, seed=9)[FEATURES]
    bodies = {
        "single": {"dataframe_records": rows.head(1).to_dict(orient="records")},
        "batch": {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))},
    }
    body_files = {}
    for name, body in bodies.items():
        body_files[name] = scratch / f"{name}.json"
        body_files[name].write_text(json.dumps(body))

    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
        # mlflow models serve starts `uvicorn` by name: this venv's, as if it were activated.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    # Ours as configured by default (prediction log and metrics on), and with each turned off.
    logged = dataclasses.replace(settings, log_dir=str(scratch / "predictions"), metrics=True)
    variants = {
        "ours": logged,
        "ours_nolog": dataclasses.replace(logged, log_dir=None),
        "ours_nometrics": dataclasses.replace(logged, metrics=False),
        "ours_shadow": dataclasses.replace(
            logged, deployment_dir=str(shadow_deployment),
            log_dir=str(scratch / "predictions-shadow"),
        ),
    }  # fmt: skip
    ours: dict[str, tuple[subprocess.Popen, str]] = {}
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        # All of ours at once (idle, a server costs nothing), measured in turns, round after
        # round: a slower minute of the shared machine falls on each of them alike.
        for name, variant in variants.items():
            settings_file = scratch / f"{name}.json"
            settings_file.write_text(variant.to_json())
            port = free_port()
            command = gunicorn_command(
                api_from_file(settings_file), f"127.0.0.1:{port}", args.workers,
                access_log=True,
            )  # fmt: skip
            ours[name] = (
                start(command, env, scratch / f"{name}-access.log"),
                f"http://127.0.0.1:{port}/prediction",
            )
        # The ceiling: a bare app on the same gunicorn settings and access log.
        port = free_port()
        command = gunicorn_command(CEILING_APP, f"127.0.0.1:{port}", args.workers, access_log=True)
        ours["ceiling"] = (
            start(command, env, scratch / "ceiling-access.log"),
            f"http://127.0.0.1:{port}/prediction",
        )
        # The same bare app in a worker that carries ours too (built, never called).
        port = free_port()
        loaded_app = f"benchmarks.ceiling_app:loaded({str(scratch / 'ours.json')!r})"
        command = gunicorn_command(loaded_app, f"127.0.0.1:{port}", args.workers, access_log=True)
        ours["ceiling_loaded"] = (
            start(command, env, scratch / "ceiling-loaded-access.log"),
            f"http://127.0.0.1:{port}/prediction",
        )
        for _, url in ours.values():
            wait_until(url, body_files["single"].read_bytes())
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in ours}
        for _ in range(args.rounds):
            for name, (_, url) in ours.items():
                rounds[name].append(run_wrk(url, body_files["single"], args.seconds, scratch))
        for name in ours:
            results[name] = {"single": median_of(rounds[name])}
        results["ours"]["batch"] = run_wrk(
            ours["ours"][1], body_files["batch"], args.seconds, scratch
        )
    finally:
        for process, _ in ours.values():
            stop(process, grace_s=60)
    shadow_scored = scored_by_challenger(scratch / "predictions-shadow")

    theirs_port = free_port()
    theirs_url = f"http://127.0.0.1:{theirs_port}/invocations"
    process = start(
        [
            str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", model_uri,
            "--env-manager", "local", "--host", "127.0.0.1", "--port", str(theirs_port),
            "--workers", str(args.workers),
        ],
        env,
    )  # fmt: skip
    try:
        wait_until(theirs_url, body_files["single"].read_bytes())
        results["mlflow"] = {
            kind: run_wrk(theirs_url, path, args.seconds, scratch)
            for kind, path in body_files.items()
        }
    finally:
        stop(process, grace_s=60)

    print(f"{'server':15} {'request':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, by_kind in results.items():
        for kind, r in by_kind.items():
            print(
                f"{name:15} {kind:8} {r['rps']:9.1f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
                f"{r['errors']:7d}"
            )
    shutil.rmtree(scratch, ignore_errors=True)
    single = {name: by_kind["single"] for name, by_kind in results.items()}
    print(
        json.dumps(
            {
                "single_row_ratio": round(single["ours"]["rps"] / single["mlflow"]["rps"], 2),
                # Ours as configured over a bare app on the same server (benchmarks/ceiling_app.py).
                "ceiling_ratio": round(single["ours"]["rps"] / single["ceiling"]["rps"], 3),
                "ceiling_rps": single["ceiling"]["rps"],
                # The bare app in a worker that carries ours, over the bare app alone: the most
                # ceiling_ratio can be while our app is loaded at all.
                "loaded_ceiling_ratio": round(
                    single["ceiling_loaded"]["rps"] / single["ceiling"]["rps"], 3
                ),
                "ceiling_p99_ms": single["ceiling"]["p99_ms"],
                "batch_ratio": round(
                    results["ours"]["batch"]["rps"] / results["mlflow"]["batch"]["rps"], 2
                ),
                "p99_ms": single["ours"]["p99_ms"],
                # Single-row throughput with the prediction log on / off (metrics on in both).
                "logging_ratio": round(single["ours"]["rps"] / single["ours_nolog"]["rps"], 3),
                # With /metrics counting on / off (the log on in both).
                "metrics_ratio": round(single["ours"]["rps"] / single["ours_nometrics"]["rps"], 3),
                "p99_ms_nolog": single["ours_nolog"]["p99_ms"],
                "p99_ms_nometrics": single["ours_nometrics"]["p99_ms"],
                # With a challenger answering in the shadow / without (log and metrics on).
                "shadow_ratio": round(single["ours_shadow"]["rps"] / single["ours"]["rps"], 3),
                "shadow_p99_ratio": round(
                    single["ours_shadow"]["p99_ms"] / single["ours"]["p99_ms"], 3
                ),
                "shadow_rows_scored": shadow_scored,
                "ours_single_rps": single["ours"]["rps"],
                "mlflow_single_rps": single["mlflow"]["rps"],
                "ours_batch_rps": results["ours"]["batch"]["rps"],
                "mlflow_batch_rps": results["mlflow"]["batch"]["rps"],
                "errors": sum(
                    int(r["errors"]) for by_kind in results.values() for r in by_kind.values()
                ),
                "workers": args.workers,
                "concurrency": 8,
                "rounds": args.rounds,
            }
        )
    )


if __name__ == "__main__":
    main()

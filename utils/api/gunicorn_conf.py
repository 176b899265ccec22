"""gunicorn's settings for the scoring API, the one place for serve.sh, the reporting step, the
tests and the API benchmark (``gunicorn --config python:utils.api.gunicorn_conf``).

Why gevent: a sync worker serves one connection at a time, so two clients that send half a
request and wait held both workers and /health went silent for 38 s. Under gevent every
connection is a greenlet: a slow or idle client costs a few kilobytes, never a worker, and a
connection gets at most utils.api.gunicorn_worker.CONNECTION_TIMEOUT_S seconds in all.

Why no keep-alive by default (measured with benchmarks/api.py, 2 workers, concurrency 8, on
2 cores): a keep-alive connection stays with the worker that accepted it, so a worker that
the scheduler pauses holds up all of its clients: a p99 of 7-10 ms. A connection per request
goes to whichever worker is free: 3,900 requests/s (24 times `mlflow models serve`) at a p99
of 3.7 ms. Clients that prefer keep-alive: GUNICORN_CMD_ARGS="--keep-alive 5".
"""

worker_class = "utils.api.gunicorn_worker.JsonErrorWorker"
# Open connections per worker, slow and idle ones included. An idle connection costs a
# greenlet and a file descriptor, kilobytes; a full pool costs every other client its answer:
# with 1,000, 2,000 idle sockets held /health until idle ones timed out (10 s). on_starting
# raises the open-files limit to match.
worker_connections = 10_000
# Seconds an idle keep-alive connection is kept, and that a client has to send each later
# request's head; 0: one request per connection.
keepalive = 0
# A worker silent this long is restarted.
timeout = 30
# gunicorn's control socket sits at one path per user (~/.gunicorn/gunicorn.ctl): every API
# instance on the host (serve.sh, the report's temporary API, the tests) unlinked and re-bound
# the others', and nothing here uses it.
control_socket_disable = True
# On SIGTERM, requests in flight get this long; then the workers exit (idle: at once).
graceful_timeout = 3


# The metrics folder on_starting made in the master, for on_exit to remove.
_made_metrics_dirs: list[str] = []


def on_starting(server) -> None:
    """Before any worker: unblock the signals gunicorn stops on, and give the workers one
    folder for their Prometheus metrics (utils.ops.metrics)."""
    import os
    import signal
    import tempfile
    from pathlib import Path

    from utils.ops.metrics import MULTIPROC_ENV

    # A parent may have started us with signals blocked (the mask survives exec): gunicorn
    # would then never hear SIGTERM, SIGINT or SIGHUP. Its workers inherit the mask from here.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(signal.Signals))
    raise_open_files_limit(worker_connections + 256)
    chosen = os.environ.get(MULTIPROC_ENV)
    if chosen:
        # A folder of the operator's: prometheus_client's rule is to empty it at each start.
        Path(chosen).mkdir(parents=True, exist_ok=True)
        for stale in Path(chosen).glob("*.db"):
            stale.unlink()
    else:
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="risk-api-metrics-")
        _made_metrics_dirs.append(os.environ[MULTIPROC_ENV])


def raise_open_files_limit(wanted: int) -> int:
    """The soft limit of open files raised towards ``wanted`` (as far as the hard limit goes:
    1,024 is a common soft default, below one worker's connection pool); the limit now."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def child_exit(server, worker) -> None:
    """A worker ended: its counters stay in the sums, its live gauges go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    """Remove the metrics folder this server made (not one the operator chose)."""
    import shutil

    for made in _made_metrics_dirs:
        shutil.rmtree(made, ignore_errors=True)


def post_worker_init(worker) -> None:
    """After the app and model are loaded: keep their objects out of the garbage collector's
    work, so that a collection during a request scans only what requests made."""
    import gc

    gc.collect()
    gc.freeze()


def worker_exit(server, worker) -> None:
    """On a graceful stop, write the prediction log's last rows instead of losing them."""
    app = getattr(worker, "wsgi", None)
    state = getattr(app, "extensions", {}).get("risk_api")
    if state is not None and state.prediction_log is not None:
        state.prediction_log.flush()

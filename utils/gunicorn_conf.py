"""gunicorn's settings for the scoring API, the one place for serve.sh, the reporting step, the
tests and the API benchmark (``gunicorn --config python:utils.gunicorn_conf``).

Why gevent: a sync worker serves one connection at a time, so two clients that send half a
request and wait held both workers and /health went silent for 38 s. Under gevent every
connection is a greenlet: a slow or idle client costs a few kilobytes, never a worker.
"""

worker_class = "utils.gunicorn_worker.JsonErrorWorker"
# Open connections per worker, slow ones included.
worker_connections = 1000
# A client has this many seconds to send each request's line and headers (gevent times the
# read), and an idle keep-alive connection is closed after it: half-open requests expire.
keepalive = 5
# A worker silent this long is restarted.
timeout = 30
# On SIGTERM, requests in flight get this long; then the workers exit (idle: at once).
graceful_timeout = 3

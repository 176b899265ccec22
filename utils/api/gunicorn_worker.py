"""gunicorn's gevent worker, answering the requests gunicorn refuses itself in JSON.

gunicorn answers a request line over its limit, bad header bytes and the like before the app
sees them, with an HTML page; clients of this API expect {"error", "detail"} from every answer.
"""

from __future__ import annotations

import json

import gevent
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

from utils.api.serving import RequestError

# Everything one connection may take: its request head, body and answer. The model answers
# 10,000 rows in milliseconds; a client that needs longer is stalled or hostile, and would
# otherwise keep its greenlet (and a connection slot) for ever.
CONNECTION_TIMEOUT_S = 10


class ConnectionTimeout(RequestError):
    def __init__(self) -> None:
        super().__init__(
            408, "request timeout", f"the request did not arrive within {CONNECTION_TIMEOUT_S} s"
        )


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's util.write_error, with a JSON body instead of an HTML page."""
    body = json.dumps({"error": reason.lower(), "detail": mesg or reason}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class JsonErrorWorker(GeventWorker):
    def init_process(self) -> None:
        # gunicorn calls util.write_error by attribute at the moment of the error.
        util.write_error = write_json_error
        super().init_process()

    def handle(self, listener, client, addr):
        # Raised wherever the connection waits when time is up: reading the head (gunicorn
        # answers through handle_error) or the body (the app answers: it is a RequestError).
        timeout = gevent.Timeout(CONNECTION_TIMEOUT_S, ConnectionTimeout())
        timeout.start()
        try:
            super().handle(listener, client, addr)
        finally:
            timeout.close()

    def handle_error(self, req, client, addr, exc):
        if isinstance(exc, ConnectionTimeout):
            self.log.warning("closing a connection from %s after %s s", addr, CONNECTION_TIMEOUT_S)
            try:
                write_json_error(client, 408, "Request Timeout", exc.detail)
            except OSError:
                pass
            return
        super().handle_error(req, client, addr, exc)

    def handle_request(self, listener_name, req, sock, addr):
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            # A keep-alive client that sends its next request at once would otherwise be read
            # without a switch, and served again and again while the other connections of this
            # worker wait (p99 of 100 ms at 8 connections): yield after every request.
            gevent.sleep(0)

"""gunicorn's gevent worker, answering the requests gunicorn refuses itself in JSON.

gunicorn answers a request line over its limit, bad header bytes and the like before the app
sees them, with an HTML page; clients of this API expect {"error", "detail"} from every answer.
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker


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

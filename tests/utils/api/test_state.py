"""The prediction endpoint's own reading of a short declared body (state.small_declared_body)."""

from __future__ import annotations

import io

import pytest

from utils.api.serving import RequestError, UploadBudget
from utils.api.state import ONE_READ_BYTES, small_declared_body


class Trickle(io.RawIOBase):
    """A stream that gives at most ``piece`` bytes a read, as a socket may."""

    def __init__(self, data: bytes, piece: int = 3) -> None:
        self.data, self.piece = data, piece

    def read(self, size: int = -1) -> bytes:
        chunk, self.data = self.data[: min(size, self.piece)], self.data[min(size, self.piece) :]
        return chunk


def environ(body: bytes, declared: str | None, **more: str) -> dict:
    env = {"wsgi.input": Trickle(body), **more}
    if declared is not None:
        env["CONTENT_LENGTH"] = declared
    return env


def test_a_body_declared_at_the_bound_is_read_whole_and_held_in_the_budget():
    budget = UploadBudget(100)
    assert small_declared_body(environ(b"x" * 10, "10"), 10, budget) == b"x" * 10
    assert budget.held == 10  # the endpoint gives it back when the request ends


@pytest.mark.parametrize(
    "env",
    [
        environ(b"x" * 11, "11"),  # one byte past the bound
        environ(b"x" * 5, None),  # no declared length
        environ(b"x" * 5, "5", HTTP_TRANSFER_ENCODING="chunked"),
        environ(b"x" * 5, "+5"),
        environ(b"x" * 5, "\u00b2"),  # a digit to str.isdigit, not to int()
        environ(b"x" * 5, "-1"),
    ],
)
def test_other_bodies_are_left_to_read_body(env):
    budget = UploadBudget(100)
    assert small_declared_body(env, 10, budget) is None
    assert budget.held == 0


def test_a_body_shorter_than_declared_is_a_400_and_gives_its_bytes_back():
    budget = UploadBudget(100)
    with pytest.raises(RequestError) as err:
        small_declared_body(environ(b"x" * 4, "9"), 10, budget)
    assert (err.value.status, err.value.detail) == (400, "the body ended after 4 of 9 bytes")
    assert budget.held == 0


def test_a_spent_budget_is_a_503_before_reading():
    budget = UploadBudget(8)
    stream = Trickle(b"x" * 9)
    with pytest.raises(RequestError) as err:
        small_declared_body({"wsgi.input": stream, "CONTENT_LENGTH": "9"}, 10, budget)
    assert err.value.status == 503 and stream.data == b"x" * 9 and budget.held == 0


@pytest.mark.parametrize("declared", [1000, ONE_READ_BYTES + 1000])
def test_a_body_shorter_than_declared_is_a_json_400_by_either_reader(api_project, caplog, declared):
    """Read in one call (short) or by read_body (long): the same 400, never a 500 and its
    traceback in the log."""
    import json

    from utils.api import app as app_module

    app = app_module.create_app(api_project["settings"])
    seen = {}
    env = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/prediction", "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(declared), "wsgi.input": io.BytesIO(b'[[1, 2, 3]]'),
        "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
    }  # fmt: skip
    body = b"".join(app.wsgi_app(env, lambda status, headers: seen.update(status=status)))
    assert seen["status"] == "400 Bad Request"
    assert json.loads(body)["error"] == "incomplete body"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert app.extensions["risk_api"].uploads.held == 0

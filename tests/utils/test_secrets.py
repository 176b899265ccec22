import logging

import pytest

from utils import secrets
from utils.secrets import MASK, SecretFilter, mask, mask_data, register_secret, url_password


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    monkeypatch.setattr(secrets, "_known", set())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://me:pw1@h:5432/db", f"postgresql://me:{MASK}@h:5432/db"),
        ("postgresql+psycopg://me:p%40ss@h/db", f"postgresql+psycopg://me:{MASK}@h/db"),
        ("store sqlite:////tmp/m.db ok", "store sqlite:////tmp/m.db ok"),
        ("https://user:tok@mlflow.example/", f"https://user:{MASK}@mlflow.example/"),
        ("no url here: a:b@c", "no url here: a:b@c"),
        ("two postgresql://a:x@h/1 and http://b:y@h/2", f"two postgresql://a:{MASK}@h/1 and http://b:{MASK}@h/2"),
    ],
)  # fmt: skip
def test_passwords_in_urls_are_masked(text, expected):
    assert mask(text) == expected


def test_registered_values_are_masked_anywhere_and_short_ones_ignored():
    register_secret("Sup3rSecret")
    register_secret("ab")
    register_secret(None)
    assert mask("PGPASSWORD=Sup3rSecret; ab") == f"PGPASSWORD={MASK}; ab"
    assert mask_data({"cmd": ["x", "Sup3rSecret"], "n": 1, "t": ("Sup3rSecret",)}) == {
        "cmd": ["x", MASK],
        "n": 1,
        "t": (MASK,),
    }


def test_url_password():
    assert url_password("postgresql://me:p%40ss@h/db") == "p@ss"
    assert url_password("postgresql://me@h/db") is None
    assert url_password(None) is None


def test_the_log_filter_masks_messages_arguments_and_tracebacks():
    register_secret("TokenValue99")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "url %s", ("http://u:pw@h/",), None)
    SecretFilter().filter(record)
    assert record.getMessage() == f"url http://u:{MASK}@h/"
    try:
        raise ValueError("TokenValue99 leaked")
    except ValueError:
        import sys

        failing = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    SecretFilter().filter(failing)
    assert "TokenValue99" not in failing.exc_text and MASK in failing.exc_text

"""Secrets never leave the process in clear: not in logs, MLflow, the monitoring store or the
report. Passwords inside URLs (``scheme://user:password@host``) are masked wherever they
appear, and values registered here (a password found in the configuration, the API token,
PGPASSWORD) are masked as they are. Standard library only: every entry point loads it."""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?=@)", re.I)
# Shorter values would mask ordinary words and numbers.
_MIN_SECRET_LENGTH = 4
_known: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` from now on, wherever it appears."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        _known.add(value)


def url_password(url: str | None) -> str | None:
    """The password inside ``url``, if it has one."""
    if not url:
        return None
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def mask(text: str) -> str:
    masked = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    for secret in sorted(_known, key=len, reverse=True):
        masked = masked.replace(secret, MASK)
    return masked


def mask_data(value: Any) -> Any:
    """``value`` with every string in it masked (dicts, lists and tuples walked)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask_data(k): mask_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_data(v) for v in value)
    return value


class SecretFilter(logging.Filter):
    """Masks every record a handler emits, whichever library logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        return True

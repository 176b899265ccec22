"""The one exception type that entry points turn into a one-line message and a non-zero exit,
and the helpers that keep such a message one short line."""

from collections.abc import Iterable
from typing import Any

# How many names a message lists: a request can name 100,000 columns; its answer stays short.
_NAMES_SHOWN = 5


class PipelineError(Exception):
    """Bad input or configuration; the message names the file, column or key at fault."""


def first_line(err: BaseException) -> str:
    """The first line of what ``err`` says (its type's name when it says nothing): the part of
    a library's message that fits in a one-line error. A wrapped driver error (SQLAlchemy's
    ``orig``) speaks for itself: the wrapper adds a traceback link and the statement."""
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class Busy(PipelineError):
    """Another process holds what this one needs (the automation's lock) and kept it past the
    wait: nothing was done, and trying again later may work."""

    # sysexits.h's EX_TEMPFAIL: "try again later", for a wrapper script to tell apart.
    exit_code = 75


def named(names: Iterable[Any]) -> str:
    """At most five names, each quoted and cut to 40 characters, then how many more."""
    names = list(names)
    shown = ", ".join(f"{str(name)[:40]!r}" for name in names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown

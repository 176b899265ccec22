"""The one exception type that entry points turn into a one-line message and a non-zero exit."""


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

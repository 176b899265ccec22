"""The one exception type that entry points turn into a one-line message and a non-zero exit."""


class PipelineError(Exception):
    """Bad input or configuration; the message names the file, column or key at fault."""


def first_line(err: BaseException) -> str:
    """The first line of what ``err`` says (its type's name when it says nothing): the part of
    a library's message that fits in a one-line error. A wrapped driver error (SQLAlchemy's
    ``orig``) speaks for itself: the wrapper adds a traceback link and the statement."""
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__

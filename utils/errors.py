"""The one exception type that entry points turn into a one-line message and a non-zero exit."""


class PipelineError(Exception):
    """Bad input or configuration; the message names the file, column or key at fault."""

"""Logging: one format, library chatter quieted, scratch work silent."""

from __future__ import annotations

import logging

from utils.runtime.logs import QUIET_LOGGERS, configure_logging, quieted


def test_mlflow_lines_come_through_our_format_and_chatter_is_quiet(monkeypatch):
    import mlflow  # noqa: F401 - importing it gives the mlflow logger a handler of its own

    monkeypatch.delenv("LOG_LEVEL", raising=False)
    configure_logging()
    assert logging.getLogger("mlflow").handlers == []
    assert logging.getLogger("mlflow").propagate
    for name in QUIET_LOGGERS:
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    assert logging.getLogger("utils.data.ingestion").isEnabledFor(logging.INFO)


def test_quieted_hides_info_inside_the_block_only(caplog):
    logger = logging.getLogger("utils.example")
    with caplog.at_level(logging.INFO):
        with quieted("utils.example"):
            logger.info("scratch")
            logger.warning("still shown")
        logger.info("real")
    assert [r.getMessage() for r in caplog.records] == ["still shown", "real"]


def test_a_name_from_outside_cannot_forge_a_log_line_or_drive_the_terminal(capsys):
    configure_logging("INFO")
    forged = "labels.csv\n2026-12-02 10:00:00 INFO fullprocess: all good\r\x1b[2J\u2028"
    logging.getLogger("utils.example").warning("labels file %s refused", forged)
    try:
        raise ValueError(forged)
    except ValueError as err:
        logging.getLogger("utils.example").error("unexpected %s", err)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith(
        "labels file labels.csv\\n2026-12-02 10:00:00 INFO fullprocess: all good\\r\\x1b[2J\\u2028 "
        "refused"
    )
    assert "\x1b" not in lines[1] and "unexpected labels.csv\\n" in lines[1]


def test_one_line_keeps_printable_text_as_it_is():
    from utils.runtime.logs import one_line

    text = "é, 中文, emoji 🙂, quotes \"'\\ and spaces"
    assert one_line(text) == text
    assert one_line("\t\x00\x7f\x85") == "\\t\\x00\\x7f\\x85"

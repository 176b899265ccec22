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

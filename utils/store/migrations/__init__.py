"""Alembic migrations of the monitoring store (utils/store/history.py), applied on connect."""

"""Alembic migrations of the monitoring store (utils/store.py), applied on connect."""

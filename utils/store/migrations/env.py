"""Alembic's environment for the monitoring store: migrations run on the connection that
utils.store.connection.ensure_schema hands over (inside its lock), never on one of their own."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

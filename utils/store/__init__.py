"""The monitoring store: the history of every event, in any SQLAlchemy database."""

"""The first schema: events, and one child table per event with values worth querying.

Databases made before the store used Alembic have exactly these tables (and a schema_version
table): ensure_schema stamps them with this revision instead of running it.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def _child(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *columns,
    )
    op.create_index(f"ix_{name}_event_id", name, ["event_id"])
    op.create_index(f"ix_{name}_created_at", name, ["created_at"])


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(32)),
        sa.Column("mlflow_run_id", sa.String(64)),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_index("ix_events_kind", "events", ["kind"])
    op.create_index("ix_events_created_at", "events", ["created_at"])
    _child(
        "ingested_files",
        sa.Column("file_name", sa.String(512), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("rows_kept", sa.Integer, nullable=False),
        sa.Column("source_dir", sa.String(1024)),
    )
    op.create_index("ix_ingested_files_file_name", "ingested_files", ["file_name"])
    _child(
        "trainings",
        sa.Column("model_uri", sa.String(256)),
        sa.Column("training_sha256", sa.String(64)),
        sa.Column("training_rows", sa.Integer),
        sa.Column("params", sa.JSON),
    )
    op.create_index("ix_trainings_model_uri", "trainings", ["model_uri"])
    _child(
        "scores",
        sa.Column("model_uri", sa.String(256)),
        sa.Column("model_version", sa.String(32)),
        sa.Column("dataset", sa.String(1024), nullable=False),
        sa.Column("f1", sa.Float, nullable=False),
        sa.Column("precision", sa.Float),
        sa.Column("recall", sa.Float),
        sa.Column("roc_auc", sa.Float),
        sa.Column("rows", sa.Integer),
    )
    op.create_index("ix_scores_model_uri", "scores", ["model_uri"])
    op.create_index("ix_scores_model_version", "scores", ["model_version"])
    _child(
        "deployments",
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("previous_version", sa.String(32)),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("release", sa.String(128), nullable=False),
        sa.Column("f1", sa.Float),
    )
    _child(
        "missing_values",
        sa.Column("column_name", sa.String(256), nullable=False),
        sa.Column("percent", sa.Float, nullable=False),
    )
    _child(
        "step_timings",
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "step_timings",
        "missing_values",
        "deployments",
        "scores",
        "trainings",
        "ingested_files",
        "events",
    ):
        op.drop_table(name)

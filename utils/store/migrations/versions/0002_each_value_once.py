"""Each value stored once: an event's payload keeps only what its child table has no column
for (the deployment's model URI gets one); the pre-Alembic schema_version table goes.

Revision ID: 0002
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

# Payload keys that the child tables of revision 0001 already hold, per event kind.
HELD_BY_CHILDREN = {
    "ingestion": ("files", "source_dir"),
    "training": ("model_uri", "training_sha256", "training_rows", "params"),
    "scoring": ("dataset", "model_uri", "f1", "precision", "recall", "roc_auc", "rows"),
    "deployment": ("previous_version", "manifest_sha256", "release", "f1", "model_uri"),
    "diagnostics": ("missing_percent", "timings_s"),
}


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("model_uri", sa.String(256)))
    bind = op.get_bind()
    events = sa.table(
        "events",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("payload", sa.JSON),
    )
    deployments = sa.table(
        "deployments", sa.column("event_id", sa.Integer), sa.column("model_uri", sa.String)
    )
    rows = bind.execute(
        sa.select(events.c.id, events.c.kind, events.c.payload).where(
            events.c.kind.in_(list(HELD_BY_CHILDREN))
        )
    ).all()
    for event_id, kind, payload in rows:
        payload = json.loads(payload) if isinstance(payload, str) else dict(payload or {})
        if kind == "deployment" and payload.get("model_uri"):
            bind.execute(
                sa.update(deployments)
                .where(deployments.c.event_id == event_id)
                .values(model_uri=payload["model_uri"])
            )
        rest = {k: v for k, v in payload.items() if k not in HELD_BY_CHILDREN[kind]}
        bind.execute(sa.update(events).where(events.c.id == event_id).values(payload=rest))
    if sa.inspect(bind).has_table("schema_version"):
        op.drop_table("schema_version")


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("model_uri")

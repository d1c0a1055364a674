"""anker.workflow: runs, their tasks, the history of every transition, expected states.

Revision ID: workflow0001
Revises:
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "workflow0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(64)
NAME = sa.String(200)


def upgrade() -> None:
    op.create_table(
        "anker_workflow_runs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("graph", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("deadline", sa.Float, nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("owner", ID, nullable=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("lease_expires", sa.Float, nullable=True),
        sa.Column("problem", sa.Text, nullable=True),
        sa.Column("retry_of", ID, nullable=True),
    )
    # the claim's lookup: active runs only, however many finished ones the table holds
    op.create_index("anker_workflow_runs_state", "anker_workflow_runs", ["state", "created"])
    op.create_index("anker_workflow_runs_owner", "anker_workflow_runs", ["owner"])
    op.create_table(
        "anker_workflow_tasks",
        sa.Column("run_id", ID, primary_key=True),
        sa.Column("name", NAME, primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("output", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started", sa.Float, nullable=True),
        sa.Column("finished", sa.Float, nullable=True),
        sa.Column("succeeded", sa.Float, nullable=True),
    )
    op.create_table(
        "anker_workflow_history",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("run_id", ID, nullable=False, index=True),
        sa.Column("task", NAME, nullable=True),
        sa.Column("old", sa.String(16), nullable=True),
        sa.Column("new", sa.String(16), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_table(
        "anker_workflow_expected",
        sa.Column("resource", NAME, primary_key=True),
        sa.Column("expected", sa.Text, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("observed", sa.Text, nullable=True),
        sa.Column("checked", sa.Float, nullable=True),
        sa.Column("drifted", sa.Boolean, nullable=False),
        sa.Column("repair_run", ID, nullable=True),
    )


def downgrade() -> None:
    for table in ("expected", "history", "tasks", "runs"):
        op.drop_table(f"anker_workflow_{table}")

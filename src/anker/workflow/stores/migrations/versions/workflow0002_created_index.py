"""anker.workflow: an index on when runs were created, for listings newest first.

Without it ``anker workflow list`` (no state filter) sorted every run of the table: 72 ms on
SQLite and 26 ms on PostgreSQL with 100,000 finished runs, growing with the table.

Revision ID: workflow0002
Revises: workflow0001
Create Date: 2026-12-07
"""

from alembic import op

revision = "workflow0002"
down_revision = "workflow0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("anker_workflow_runs_created", "anker_workflow_runs", ["created"])


def downgrade() -> None:
    op.drop_index("anker_workflow_runs_created", table_name="anker_workflow_runs")

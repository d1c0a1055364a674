"""anker.limits: projects, limits, usage counters and claims.

Revision ID: limits0001
Revises:
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "limits0001"
down_revision = None
branch_labels = None
depends_on = None

NAME = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "anker_limits_projects",
        sa.Column("id", NAME, primary_key=True),
        sa.Column("parent", NAME, nullable=True, index=True),
    )
    op.create_table(
        "anker_limits_defaults",
        sa.Column("resource", NAME, primary_key=True),
        sa.Column("hard_limit", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "anker_limits_limits",
        sa.Column("project", NAME, primary_key=True),
        sa.Column("resource", NAME, primary_key=True),
        sa.Column("hard_limit", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "anker_limits_usage",
        sa.Column("project", NAME, primary_key=True),
        sa.Column("resource", NAME, primary_key=True),
        sa.Column("used", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("subtree", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "anker_limits_claims",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project", NAME, nullable=False, index=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("resources", sa.Text, nullable=False),
        sa.Column("committed", sa.Boolean, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("expires", sa.Float, nullable=True, index=True),
        sa.Column("note", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("claims", "usage", "limits", "defaults", "projects"):
        op.drop_table(f"anker_limits_{table}")

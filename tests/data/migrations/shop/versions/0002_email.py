"""customers have an email

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shop_customers", sa.Column("email", sa.String(120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shop_customers") as batch:
        batch.drop_column("email")

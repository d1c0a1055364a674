"""customers are found by email

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("shop_customers_email", "shop_customers", ["email"], unique=True)


def downgrade() -> None:
    op.drop_index("shop_customers_email", table_name="shop_customers")

"""work orders: when a missed completion deadline was escalated (once per order, like ``escalated_at`` for dispatch)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 12:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('work_orders') as batch:
        batch.add_column(sa.Column('completion_escalated_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('work_orders') as batch:
        batch.drop_column('completion_escalated_at')

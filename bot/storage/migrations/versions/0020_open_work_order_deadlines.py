"""The SLA check's unescalated open orders, as two partial indexes (issue 29: every 5 s each worker read all
300 k work orders twice, a parallel sequential scan of ~165 MB that took PostgreSQL's CPU and its shared buffers
from the residents' turns)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 07:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

OPEN = "status NOT IN ('已完成', '已取消')"
RESPONSE = f"escalated_at IS NULL AND first_response_at IS NULL AND {OPEN}"
COMPLETION = f"completion_escalated_at IS NULL AND {OPEN}"


def upgrade() -> None:
    op.create_index('ix_work_orders_response_unescalated', 'work_orders', ['response_due'],
                    postgresql_where=sa.text(RESPONSE), sqlite_where=sa.text(RESPONSE))
    op.create_index('ix_work_orders_completion_unescalated', 'work_orders', ['completion_due'],
                    postgresql_where=sa.text(COMPLETION), sqlite_where=sa.text(COMPLETION))


def downgrade() -> None:
    op.drop_index('ix_work_orders_completion_unescalated', table_name='work_orders')
    op.drop_index('ix_work_orders_response_unescalated', table_name='work_orders')

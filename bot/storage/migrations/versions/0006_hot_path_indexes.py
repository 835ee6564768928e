"""indexes for the per-message queries (checked with EXPLAIN on PostgreSQL: tests/test_storage.py)

- handoffs (status, priority, created_at): the waiting queue and a conversation's queue position are read on every
  message of a waiting conversation; without it both scan every handoff ever made;
- rate_events (bucket, created_at) instead of (bucket): the per-sender message limit sums one bucket's window on
  every message.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 21:30:00
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_handoffs_status_priority_created_at', 'handoffs', ['status', 'priority', 'created_at'],
                    unique=False)
    op.create_index('ix_rate_events_bucket_created_at', 'rate_events', ['bucket', 'created_at'], unique=False)
    op.drop_index('ix_rate_events_bucket', table_name='rate_events')


def downgrade() -> None:
    op.create_index('ix_rate_events_bucket', 'rate_events', ['bucket'], unique=False)
    op.drop_index('ix_rate_events_bucket_created_at', table_name='rate_events')
    op.drop_index('ix_handoffs_status_priority_created_at', table_name='handoffs')

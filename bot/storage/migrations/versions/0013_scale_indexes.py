"""indexes for the staff pages as the data grows (issue 29; figures in docs/figures/2026-12-06-scale.md)

- work_orders (created_at, id): the desk's list reads the newest 2000 orders (ORDER BY created_at DESC, id DESC LIMIT);
- work_order_events (actor, work_order_id): the desk figures' ratings read the residents' events only;
- conversations (created_at), handoffs (created_at): the admin figures and CSV exports of a date range;
- ratings (created_at): the figures' ratings per day of their window.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 20:00:00
"""
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_work_orders_created_at_id", "work_orders", ["created_at", "id"]),
    ("ix_work_order_events_actor_work_order_id", "work_order_events", ["actor", "work_order_id"]),
    ("ix_conversations_created_at", "conversations", ["created_at"]),
    ("ix_handoffs_created_at", "handoffs", ["created_at"]),
    ("ix_ratings_created_at", "ratings", ["created_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)

"""The work-order figures' summary of closed orders (issue 29: the figures of 300 k orders took 0.5–0.8 s), and
each summarised day's sums over every 小区 in daily_figures (community_id "*": a year's figures read 365 rows)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 04:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# the medians read one minute's summarised orders' durations; PostgreSQL reads them from these alone (index-only:
# the times are included); SQLite scans (its databases are the small ones)
_DURATIONS = {'ix_work_orders_response_seconds': 'first_response_at',
              'ix_work_orders_completion_seconds': 'completed_at'}


def upgrade() -> None:
    op.create_table(
        'work_order_summaries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cutoff', sa.DateTime(), nullable=False),
        sa.Column('last_event_id', sa.Integer(), nullable=False),
        sa.Column('ratings', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'work_order_totals',
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('orders', sa.Integer(), nullable=False),
        sa.Column('first_id', sa.Integer(), nullable=False),
        sa.Column('response_measured', sa.Integer(), nullable=False),
        sa.Column('response_met', sa.Integer(), nullable=False),
        sa.Column('completion_measured', sa.Integer(), nullable=False),
        sa.Column('completion_met', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('status', 'category'),
    )
    op.create_table(
        'work_order_durations',
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('minute', sa.Integer(), nullable=False),
        sa.Column('orders', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'minute'),
    )
    with op.batch_alter_table('work_orders') as batch:
        batch.add_column(sa.Column('summary_id', sa.Integer(), nullable=True))
    op.create_index('ix_work_orders_summary_id', 'work_orders', ['summary_id'])
    if op.get_bind().dialect.name == 'postgresql':
        for name, column in _DURATIONS.items():
            op.execute(f'CREATE INDEX {name} ON work_orders ((EXTRACT(epoch FROM {column} - created_at))) '
                       f'INCLUDE ({column}, created_at) WHERE summary_id IS NOT NULL')
    _day_totals()


def _day_totals() -> None:
    """The row of every 小区 ("*") of each day summarised before this revision, summed from the day's rows."""
    figures = sa.table('daily_figures', sa.column('day', sa.Date()), sa.column('community_id', sa.String()),
                       sa.column('conversations', sa.Integer()), sa.column('handoffs_by_priority', sa.JSON()),
                       sa.column('handoffs_by_reason', sa.JSON()), sa.column('summarised_at', sa.DateTime()))
    bind = op.get_bind()
    totals = {}
    for day, conversations, by_priority, by_reason, at in bind.execute(sa.select(
            figures.c.day, figures.c.conversations, figures.c.handoffs_by_priority, figures.c.handoffs_by_reason,
            figures.c.summarised_at).where(figures.c.community_id != '*')):
        total = totals.setdefault(day, {'day': day, 'community_id': '*', 'conversations': 0,
                                        'handoffs_by_priority': {}, 'handoffs_by_reason': {}, 'summarised_at': at})
        total['conversations'] += conversations
        for column, counts in (('handoffs_by_priority', by_priority), ('handoffs_by_reason', by_reason)):
            for key, (n, first_id) in counts.items():
                counted = total[column].setdefault(key, [0, first_id])
                counted[0] += n
                counted[1] = min(counted[1], first_id)
    rows = list(totals.values())
    for i in range(0, len(rows), 150):
        bind.execute(figures.insert(), rows[i:i + 150])


def downgrade() -> None:
    op.execute("DELETE FROM daily_figures WHERE community_id = '*'")
    if op.get_bind().dialect.name == 'postgresql':
        for name in _DURATIONS:
            op.drop_index(name, table_name='work_orders')
    op.drop_index('ix_work_orders_summary_id', table_name='work_orders')
    # not a batch (SQLite would copy work_orders, which other tables' keys refer to): SQLite 3.35+ drops it in place
    op.execute('ALTER TABLE work_orders DROP COLUMN summary_id')
    op.drop_table('work_order_durations')
    op.drop_table('work_order_totals')
    op.drop_table('work_order_summaries')

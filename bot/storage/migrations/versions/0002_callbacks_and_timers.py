"""callback phone/window/time on handoffs; timers that survive a restart

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 19:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('handoffs') as batch:
        batch.add_column(sa.Column('callback_phone', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('callback_window', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('callback_at', sa.DateTime(), nullable=True))
    op.create_table('timers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('ref_id', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_timers_due_at'), 'timers', ['due_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_timers_due_at'), table_name='timers')
    op.drop_table('timers')
    with op.batch_alter_table('handoffs') as batch:
        batch.drop_column('callback_at')
        batch.drop_column('callback_window')
        batch.drop_column('callback_phone')

"""staff accounts: the 小区 served, disabled, first-login password change; where a session signed in from

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 19:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # existing accounts keep working as before: every 小区, enabled, no forced change
    with op.batch_alter_table('staff') as batch:
        batch.add_column(sa.Column('community_id', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('disabled_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('staff_sessions') as batch:
        batch.add_column(sa.Column('ip', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('user_agent', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff_sessions') as batch:
        batch.drop_column('user_agent')
        batch.drop_column('ip')
    with op.batch_alter_table('staff') as batch:
        batch.drop_column('must_change_password')
        batch.drop_column('disabled_at')
        batch.drop_column('community_id')

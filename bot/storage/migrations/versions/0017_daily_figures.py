"""Daily aggregates for the admin figures (issue 29 point 4): one row per closed 小区-local day and 小区

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 02:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'daily_figures',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('community_id', sa.String(length=32), nullable=False),
        sa.Column('conversations', sa.Integer(), nullable=False),
        sa.Column('handoffs_by_priority', sa.JSON(), nullable=False),
        sa.Column('handoffs_by_reason', sa.JSON(), nullable=False),
        sa.Column('summarised_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'community_id'),
    )


def downgrade() -> None:
    op.drop_table('daily_figures')

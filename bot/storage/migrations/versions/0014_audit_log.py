"""Audit log of staff reads of household data (issue 26 point 5b)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 19:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('staff_name', sa.String(length=64), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('household_id', sa.Integer(), nullable=True),
        sa.Column('record_kind', sa.String(length=16), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_household_id', 'audit_log', ['household_id'])
    op.create_index('ix_audit_log_created_at', 'audit_log', ['created_at'])
    op.create_index('ix_audit_log_staff_id_created_at', 'audit_log', ['staff_id', 'created_at'])


def downgrade() -> None:
    op.drop_table('audit_log')

"""API keys: scopes (``chat`` for /api/chat, ``import`` for an ERP's batch import /api/import/{kind}); existing keys
keep what they could do (chat)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 19:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('scopes', sa.String(length=64), nullable=False, server_default='chat'))


def downgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('scopes')

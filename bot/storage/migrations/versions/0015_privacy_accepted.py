"""The widget's privacy notice (issue 26): when the resident accepted it, on their chat identity

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 20:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a table's columns in place
    with op.batch_alter_table('chat_identities') as batch:
        batch.add_column(sa.Column('privacy_accepted_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('chat_identities') as batch:
        batch.drop_column('privacy_accepted_at')

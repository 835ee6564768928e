"""The residents' messages per conversation, as an index (issue 29: the conversations export counts them and
finds the first of each conversation from the index alone)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 04:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_messages_resident_conversation_id_id', 'messages', ['conversation_id', 'id'],
                    postgresql_where=sa.text("sender = 'resident'"), sqlite_where=sa.text("sender = 'resident'"))


def downgrade() -> None:
    op.drop_index('ix_messages_resident_conversation_id_id', table_name='messages')

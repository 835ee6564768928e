"""client message ids (idempotent resends), quick replies, satisfaction ratings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 18:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('client_id', sa.String(length=64), nullable=True))
        batch.create_unique_constraint('uq_message_client_id', ['conversation_id', 'client_id'])
    op.create_table('quick_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shortcut', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shortcut')
    )
    op.create_table('ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('handoff_id', name='uq_rating_handoff')
    )
    op.create_index(op.f('ix_ratings_agent_id'), 'ratings', ['agent_id'], unique=False)
    op.create_index(op.f('ix_ratings_conversation_id'), 'ratings', ['conversation_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ratings_conversation_id'), table_name='ratings')
    op.drop_index(op.f('ix_ratings_agent_id'), table_name='ratings')
    op.drop_table('ratings')
    op.drop_table('quick_replies')
    with op.batch_alter_table('messages') as batch:
        batch.drop_constraint('uq_message_client_id', type_='unique')
        batch.drop_column('client_id')

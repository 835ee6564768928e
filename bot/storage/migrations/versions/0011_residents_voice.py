"""residents' voice: suggestions (建议), polls (投票) and their votes; a notice may link to a poll

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 19:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('suggestions',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('number', sa.String(length=24), nullable=False),
                    sa.Column('text', sa.Text(), nullable=False),
                    sa.Column('conversation_id', sa.Integer(), nullable=False),
                    sa.Column('identity_id', sa.Integer(), nullable=False),
                    sa.Column('household_id', sa.Integer(), nullable=True),
                    sa.Column('community_id', sa.String(length=32), nullable=True),
                    sa.Column('building', sa.Integer(), nullable=True),
                    sa.Column('status', sa.String(length=16), nullable=False),
                    sa.Column('reply', sa.Text(), nullable=True),
                    sa.Column('replied_by', sa.Integer(), nullable=True),
                    sa.Column('replied_at', sa.DateTime(), nullable=True),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id']),
                    sa.ForeignKeyConstraint(['identity_id'], ['chat_identities.id']),
                    sa.ForeignKeyConstraint(['household_id'], ['households.id']),
                    sa.ForeignKeyConstraint(['replied_by'], ['staff.id']),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('number'))
    op.create_index(op.f('ix_suggestions_conversation_id'), 'suggestions', ['conversation_id'], unique=False)
    op.create_index(op.f('ix_suggestions_community_id'), 'suggestions', ['community_id'], unique=False)
    op.create_table('polls',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('community_id', sa.String(length=32), nullable=False),
                    sa.Column('buildings', sa.JSON(), nullable=False),
                    sa.Column('question', sa.String(length=200), nullable=False),
                    sa.Column('options', sa.JSON(), nullable=False),
                    sa.Column('per', sa.String(length=16), nullable=False),
                    sa.Column('opens_at', sa.DateTime(), nullable=False),
                    sa.Column('closes_at', sa.DateTime(), nullable=False),
                    sa.Column('show_results', sa.Boolean(), nullable=False),
                    sa.Column('created_by', sa.Integer(), nullable=True),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['community_id'], ['communities.id']),
                    sa.ForeignKeyConstraint(['created_by'], ['staff.id']),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_polls_community_id'), 'polls', ['community_id'], unique=False)
    op.create_table('poll_votes',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('poll_id', sa.Integer(), nullable=False),
                    sa.Column('voter', sa.String(length=24), nullable=False),
                    sa.Column('option', sa.Integer(), nullable=False),
                    sa.Column('identity_id', sa.Integer(), nullable=False),
                    sa.Column('channel', sa.String(length=16), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['poll_id'], ['polls.id']),
                    sa.ForeignKeyConstraint(['identity_id'], ['chat_identities.id']),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('poll_id', 'voter', name='uq_poll_vote_voter'))
    op.create_index(op.f('ix_poll_votes_poll_id'), 'poll_votes', ['poll_id'], unique=False)
    with op.batch_alter_table('notices') as batch:
        batch.add_column(sa.Column('poll_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_notices_poll_id', 'polls', ['poll_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('notices') as batch:
        batch.drop_constraint('fk_notices_poll_id', type_='foreignkey')
        batch.drop_column('poll_id')
    op.drop_index(op.f('ix_poll_votes_poll_id'), table_name='poll_votes')
    op.drop_table('poll_votes')
    op.drop_index(op.f('ix_polls_community_id'), table_name='polls')
    op.drop_table('polls')
    op.drop_index(op.f('ix_suggestions_community_id'), table_name='suggestions')
    op.drop_index(op.f('ix_suggestions_conversation_id'), table_name='suggestions')
    op.drop_table('suggestions')

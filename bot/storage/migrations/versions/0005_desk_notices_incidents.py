"""work-order desk (assignee, linked conversation, SLA deadlines), notices with revisions, incidents

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 18:55:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('building', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], ),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_incidents_community_id'), 'incidents', ['community_id'], unique=False)
    op.create_table('incident_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('told_resolved_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('incident_id', 'conversation_id', name='uq_incident_report')
    )
    op.create_index(op.f('ix_incident_reports_conversation_id'), 'incident_reports', ['conversation_id'], unique=False)
    op.create_index(op.f('ix_incident_reports_incident_id'), 'incident_reports', ['incident_id'], unique=False)
    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('buildings', sa.JSON(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], ),
    sa.ForeignKeyConstraint(['created_by'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_notices_community_id'), 'notices', ['community_id'], unique=False)
    op.create_table('notice_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_notice_revisions_notice_id'), 'notice_revisions', ['notice_id'], unique=False)
    with op.batch_alter_table('work_orders') as batch:
        batch.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('conversation_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('response_due', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('completion_due', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('first_response_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('completed_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('escalated_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('incident_id', sa.Integer(), nullable=True))
        batch.create_index(batch.f('ix_work_orders_assignee_id'), ['assignee_id'], unique=False)
        batch.create_index(batch.f('ix_work_orders_incident_id'), ['incident_id'], unique=False)
        batch.create_foreign_key('fk_work_orders_assignee_id_staff', 'staff', ['assignee_id'], ['id'])
        batch.create_foreign_key('fk_work_orders_conversation_id_conversations', 'conversations', ['conversation_id'], ['id'])
        batch.create_foreign_key('fk_work_orders_incident_id_incidents', 'incidents', ['incident_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('work_orders') as batch:
        batch.drop_constraint('fk_work_orders_incident_id_incidents', type_='foreignkey')
        batch.drop_constraint('fk_work_orders_conversation_id_conversations', type_='foreignkey')
        batch.drop_constraint('fk_work_orders_assignee_id_staff', type_='foreignkey')
        batch.drop_index(batch.f('ix_work_orders_incident_id'))
        batch.drop_index(batch.f('ix_work_orders_assignee_id'))
        for column in ('incident_id', 'escalated_at', 'completed_at', 'first_response_at', 'completion_due',
                       'response_due', 'conversation_id', 'assignee_id'):
            batch.drop_column(column)
    op.drop_index(op.f('ix_notice_revisions_notice_id'), table_name='notice_revisions')
    op.drop_table('notice_revisions')
    op.drop_index(op.f('ix_notices_community_id'), table_name='notices')
    op.drop_table('notices')
    op.drop_index(op.f('ix_incident_reports_incident_id'), table_name='incident_reports')
    op.drop_index(op.f('ix_incident_reports_conversation_id'), table_name='incident_reports')
    op.drop_table('incident_reports')
    op.drop_index(op.f('ix_incidents_community_id'), table_name='incidents')
    op.drop_table('incidents')

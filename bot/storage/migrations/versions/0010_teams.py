"""teams (技能组) and their members, the team and kind on a handoff, the agent's state (issue 28)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 19:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'teams',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('kinds', sa.JSON(), nullable=False),
        sa.Column('communities', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'team_members',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], ),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('team_id', 'staff_id', name='uq_team_member'),
    )
    op.create_index('ix_team_members_team_id', 'team_members', ['team_id'])
    op.create_index('ix_team_members_staff_id', 'team_members', ['staff_id'])
    # every agent who existed before reads as 在线 (their console's presence still decides who is online)
    with op.batch_alter_table('staff') as batch:
        batch.add_column(sa.Column('state', sa.String(length=8), nullable=False, server_default='online'))
    with op.batch_alter_table('handoffs') as batch:
        batch.add_column(sa.Column('kind', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_handoffs_team_id_teams', 'teams', ['team_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('handoffs') as batch:
        batch.drop_constraint('fk_handoffs_team_id_teams', type_='foreignkey')
        batch.drop_column('team_id')
        batch.drop_column('kind')
    with op.batch_alter_table('staff') as batch:
        batch.drop_column('state')
    op.drop_index('ix_team_members_staff_id', table_name='team_members')
    op.drop_index('ix_team_members_team_id', table_name='team_members')
    op.drop_table('team_members')
    op.drop_table('teams')

"""photos on work-order events: the completion photo is stored in the same row as the completion note

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NOT NULL with a server default: the events made before this revision read as "no photos"
    with op.batch_alter_table('work_order_events') as batch:
        batch.add_column(sa.Column('photos', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('work_order_events') as batch:
        batch.drop_column('photos')

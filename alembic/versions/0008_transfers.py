"""volume transfers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 22:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('transfers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('volume_id', sa.String(length=36), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=True),
    sa.Column('salt', sa.String(length=255), nullable=False),
    sa.Column('crypt_hash', sa.String(length=255), nullable=False),
    sa.Column('source_project_id', sa.String(length=64), nullable=False),
    sa.Column('destination_project_id', sa.String(length=64), nullable=True),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('no_snapshots', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['volume_id'], ['volumes.id'], name=op.f('fk_transfers_volume_id_volumes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers'))
    )
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfers_source_project_id'), ['source_project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfers_volume_id'), ['volume_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfers_volume_id'))
        batch_op.drop_index(batch_op.f('ix_transfers_source_project_id'))
    op.drop_table('transfers')

"""backups: the volume a restore writes (restore_volume_id), where the data is kept
(service_metadata), as Cinder names them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('backups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('restore_volume_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('service_metadata', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_backups_restore_volume_id'), ['restore_volume_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('backups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backups_restore_volume_id'))
        batch_op.drop_column('service_metadata')
        batch_op.drop_column('restore_volume_id')

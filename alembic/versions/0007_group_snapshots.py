"""group snapshots; snapshots.group_snapshot_id; groups.group_snapshot_id, source_group_id

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 22:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('group_snapshots',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('group_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('group_type_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_group_snapshots_group_id_groups'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['group_type_id'], ['group_types.id'], name=op.f('fk_group_snapshots_group_type_id_group_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_snapshots'))
    )
    with op.batch_alter_table('group_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_snapshots_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_snapshots_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_snapshots_status'), ['status'], unique=False)
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_snapshot_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_snapshots_group_snapshot_id'), ['group_snapshot_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_snapshots_group_snapshot_id_group_snapshots'), 'group_snapshots', ['group_snapshot_id'], ['id'], ondelete='RESTRICT')
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_snapshot_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('source_group_id', sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_column('source_group_id')
        batch_op.drop_column('group_snapshot_id')
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_snapshots_group_snapshot_id_group_snapshots'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_snapshots_group_snapshot_id'))
        batch_op.drop_column('group_snapshot_id')
    with op.batch_alter_table('group_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_snapshots_status'))
        batch_op.drop_index(batch_op.f('ix_group_snapshots_project_id'))
        batch_op.drop_index(batch_op.f('ix_group_snapshots_group_id'))
    op.drop_table('group_snapshots')

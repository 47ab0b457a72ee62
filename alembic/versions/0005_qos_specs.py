"""qos specs

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('qos_specs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('consumer', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qos_specs')),
    sa.UniqueConstraint('name', name=op.f('uq_qos_specs_name'))
    )
    op.create_table('qos_spec_items',
    sa.Column('qos_specs_id', sa.String(length=36), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['qos_specs_id'], ['qos_specs.id'], name=op.f('fk_qos_spec_items_qos_specs_id_qos_specs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('qos_specs_id', 'key', name=op.f('pk_qos_spec_items'))
    )
    with op.batch_alter_table('volume_types', schema=None) as batch_op:
        batch_op.add_column(sa.Column('qos_specs_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_volume_types_qos_specs_id'), ['qos_specs_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_volume_types_qos_specs_id_qos_specs'), 'qos_specs', ['qos_specs_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('volume_types', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_volume_types_qos_specs_id_qos_specs'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_volume_types_qos_specs_id'))
        batch_op.drop_column('qos_specs_id')

    op.drop_table('qos_spec_items')
    op.drop_table('qos_specs')

"""agents: agent records, backends bound to agents, report sequence numbers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00.000000

Until now the agent a backend belonged to was whatever name the report's body gave, so
the stored names prove nothing: they are cleared, and each backend and backup service is
bound again to the agent (derived from its token) whose report comes first.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('agents',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_agents_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_agents')),
    sa.UniqueConstraint('user_id', name=op.f('uq_agents_user_id'))
    )
    with op.batch_alter_table('backends', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report_seq', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('backup_services', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report_seq', sa.BigInteger(), nullable=True))
        batch_op.alter_column('agent_id', existing_type=sa.String(length=255), nullable=True)
    op.execute("UPDATE backends SET agent_id = NULL")
    op.execute("UPDATE backup_services SET agent_id = NULL")
    # reported_at is now the database's time of acceptance and only grows: a report the
    # agent dated ahead (the old order) must not hold it in the future.
    op.execute("UPDATE backends SET reported_at = heard_at WHERE reported_at > heard_at")
    op.execute("UPDATE backup_services SET reported_at = heard_at WHERE reported_at > heard_at")


def downgrade() -> None:
    # Older releases need a name here: the host stands in until its agent reports again.
    op.execute("UPDATE backup_services SET agent_id = host WHERE agent_id IS NULL")
    with op.batch_alter_table('backup_services', schema=None) as batch_op:
        batch_op.alter_column('agent_id', existing_type=sa.String(length=255), nullable=False)
        batch_op.drop_column('report_seq')
    with op.batch_alter_table('backends', schema=None) as batch_op:
        batch_op.drop_column('report_seq')
    op.drop_table('agents')

"""Drop the indexes no query uses but every action writes: work_items.unit_id,
work_items.assignee_id and outbox.kind.

Every index a transaction touches is one more page written at its commit (on
SQLite, one more WAL frame). The inbox finds open items through
ix_work_items_state (PostgreSQL chooses it even when the unit's index exists),
the outbox is claimed by state, and nothing looks items up by assignee or
outbox rows by kind alone.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('work_items', schema=None) as batch_op:
        batch_op.drop_index('ix_work_items_unit_id')
        batch_op.drop_index('ix_work_items_assignee_id')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_kind')


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_kind', ['kind'], unique=False)
    with op.batch_alter_table('work_items', schema=None) as batch_op:
        batch_op.create_index('ix_work_items_assignee_id', ['assignee_id'], unique=False)
        batch_op.create_index('ix_work_items_unit_id', ['unit_id'], unique=False)

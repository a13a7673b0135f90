"""users.credential_epoch: deactivating an account ends its sessions and tokens for good.

A web session or API token carries a mark of the user's stored password hash,
so a password change ends them. Deactivating an account refused them too, but
only while it stayed deactivated: re-enabling it revived every session and
token issued before (they last 12 hours). The epoch, raised at each
deactivation, is part of the mark.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not a batch (which on SQLite copies the table, and dropping the old ``users`` would
# break the foreign keys that work items and dossiers hold to it): SQLite has had ADD and DROP COLUMN
# since 3.35.


def upgrade() -> None:
    op.add_column('users', sa.Column('credential_epoch', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    op.drop_column('users', 'credential_epoch')

"""units.merged_into: a merged or dissolved unit's work goes to its successor.

The 2025 reorganisation merged and dissolved offices. units.yaml now says
``merged_into: <unit id>`` for such a unit; the database keeps it so that the
engine opens the later steps of dossiers pinned to an older definition version
at the successor, and ``quytrinh unit transfer`` moves the open work there.
Existing units were not merged: the column starts empty.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


# Plain ALTER TABLE (as 0008): a nullable column without a default, on SQLite and PostgreSQL alike; no foreign
# key (units.yaml's loader checks the successor, and a self-reference would order the seeding's inserts).


def upgrade() -> None:
    op.add_column('units', sa.Column('merged_into', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('units', 'merged_into')

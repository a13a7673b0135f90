"""users.commune: the commune a member of a commune's staff works for.

units.yaml describes the staff of every commune with one set of units (the
commune one-stop unit, its justice officer...), so before this a commune's
officer saw and could act on the dossiers of every commune of the district.
An account of a commune-level unit may now name its commune (as units.yaml's
``communes:`` writes it); it then sees and acts only on the dossiers of that
commune (and on those of no commune). Existing accounts get '' (no commune:
as before) until the administrator sets it (``quytrinh user commune``).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('commune', sa.String(length=200), nullable=False, server_default=''))


def downgrade() -> None:
    op.drop_column('users', 'commune')

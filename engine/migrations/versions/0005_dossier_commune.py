"""The commune (xã, phường, thị trấn) of a commune-level dossier: dossiers.commune.

A district's communes share one one-stop unit in units.yaml, so nothing said
which commune's People's Committee a commune-level dossier belongs to, and its
forms were headed by the district. The one-stop staff now name it at
reception; the forms are headed by that commune.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('commune', sa.String(length=200), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_column('commune')

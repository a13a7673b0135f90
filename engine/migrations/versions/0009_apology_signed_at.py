"""apologies.signed_at: an apology (form 04) counts in the period its unit's head signed it.

Reports counted the apologies drafted in a period and signed by now: a draft of
30/9 signed on 1/10 was missing from October, the month the apology was made,
and appeared in September's figures after September had been reported. The
instant of signing was kept only in the ``apology_signed`` event; existing
signed apologies get it from there.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('apologies', sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True))
    conn = op.get_bind()
    signed = conn.execute(sa.text("SELECT at, data FROM events WHERE action = 'apology_signed' ORDER BY id")).all()
    for at, data in signed:
        if isinstance(data, str):  # SQLite keeps JSON as text; PostgreSQL gives it decoded
            data = json.loads(data)
        apology = (data or {}).get("apology")
        if isinstance(apology, int):
            conn.execute(sa.text("UPDATE apologies SET signed_at = :at WHERE id = :id AND signed_at IS NULL"),
                         {"at": at, "id": apology})


def downgrade() -> None:
    op.drop_column('apologies', 'signed_at')

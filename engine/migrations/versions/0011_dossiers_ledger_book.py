"""dossiers.ledger_book: the one-stop unit's book a dossier is entered in, and its index.

Form 01 prints "Vào Sổ theo dõi hồ sơ, Quyển số … Số thứ tự …" and the ledger
prints the same number in its first column. A book was the year of
registration across the whole organisation, so the district's one-stop unit
and every commune's shared one numbering. A book is now kept by each one-stop
unit (and each commune's, though units.yaml describes the communes' one-stop
units as one unit): ``ledger_book`` is the unit's id, followed by
``/<commune>`` for a commune-level dossier (engine.store.ledger_book_key);
the book of a dossier is that key and the year of its registration, its
number the rank of its registration in that book (engine.documents.book_number).

Existing dossiers take the unit of their first work item (the reception step,
opened at the one-stop unit when the dossier was registered) and, for a
dossier of a commune-level procedure version that names its commune, the
commune. Their numbers change from the organisation-wide ones only where the
organisation had more than one one-stop unit's dossiers.

``ix_dossiers_ledger_book`` (ledger_book, registered_at, id) lets a book
number be two counts of an index range (index-only on PostgreSQL) and the
ledger read a book's entries in order.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (as 0008): a NOT NULL column with a constant default is an ADD COLUMN on both
    # databases, and dropping it a DROP COLUMN (SQLite 3.35+), not a copy of the table, which the foreign
    # keys of work_items and events to dossiers would refuse on SQLite.
    op.add_column('dossiers', sa.Column('ledger_book', sa.String(length=300), nullable=False, server_default=''))
    op.execute(
        "UPDATE dossiers SET ledger_book = "
        "COALESCE((SELECT w.unit_id FROM work_items w WHERE w.dossier_id = dossiers.id "
        "ORDER BY w.id LIMIT 1), '') || "
        "CASE WHEN dossiers.commune <> '' AND (SELECT v.level FROM definition_versions v "
        "WHERE v.id = dossiers.definition_id) = 'commune' THEN '/' || dossiers.commune ELSE '' END")
    op.create_index('ix_dossiers_ledger_book', 'dossiers', ['ledger_book', 'registered_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_dossiers_ledger_book', table_name='dossiers')
    op.drop_column('dossiers', 'ledger_book')

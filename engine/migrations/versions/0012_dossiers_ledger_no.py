"""dossiers.ledger_year and ledger_no: a dossier's number in its book, given once at registration.

Form 01 prints "Vào Sổ theo dõi hồ sơ, Quyển số … Số thứ tự …". Until now the number was counted when
printed: the rank of the dossier's registration instant in its book (engine.documents.book_number). A
registration that took its instant before another's but committed after it (two counters at the same
moment on PostgreSQL, or a dossier entered later with the instant it was received on paper) then moved
the numbers of every later entry by one, numbers already printed on receipts. The number is now stored
when the dossier is registered: the book's last number plus one, in the registering transaction (on
PostgreSQL under a lock on the book), and never changes; ``ux_dossiers_ledger_no`` (ledger_book,
ledger_year, ledger_no) keeps each number once in a book and finds the last one.

Existing dossiers take the numbers the ledger gave them until now (their rank by instant, then id, in
their book and year of registration, Hanoi time), so a receipt printed before keeps its number.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

HANOI = dt.timedelta(hours=7)  # Vietnam has kept UTC+7 all year since 1975


def _local_year(value: object) -> int:
    """The Hanoi-time year of a stored UTC instant (SQLite: SQLAlchemy's text; PostgreSQL: a datetime)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime), value
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (value + HANOI).year


def upgrade() -> None:
    # Plain ALTER TABLE (as 0008, 0011): nullable columns without a default are an ADD COLUMN on both databases.
    op.add_column('dossiers', sa.Column('ledger_year', sa.Integer(), nullable=True))
    op.add_column('dossiers', sa.Column('ledger_no', sa.Integer(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, ledger_book, registered_at FROM dossiers ORDER BY ledger_book, registered_at, id")).all()
    last: dict[tuple[str, int], int] = {}
    numbers = []
    for dossier_id, book, registered_at in rows:
        year = _local_year(registered_at)
        n = last[(book, year)] = last.get((book, year), 0) + 1
        numbers.append({"id": dossier_id, "year": year, "no": n})
    for i in range(0, len(numbers), 5000):
        conn.execute(sa.text("UPDATE dossiers SET ledger_year = :year, ledger_no = :no WHERE id = :id"),
                     numbers[i:i + 5000])
    op.create_index('ux_dossiers_ledger_no', 'dossiers', ['ledger_book', 'ledger_year', 'ledger_no'], unique=True)


def downgrade() -> None:
    op.drop_index('ux_dossiers_ledger_no', table_name='dossiers')
    op.drop_column('dossiers', 'ledger_no')
    op.drop_column('dossiers', 'ledger_year')

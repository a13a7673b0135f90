"""users.username_key: usernames are case-insensitive, and unique as such.

Signing in as ``An`` failed for the account ``an``, and ``an`` and ``An`` could
both be created. Every lookup by name now compares ``username_key`` (the name
in Unicode NFC, case folded: ``engine.store.username_key``), which a unique
index guards on SQLite and PostgreSQL alike; ``username`` keeps the spelling
the account was created with. The key is computed in Python, not with the
database's ``lower()``, which folds only ASCII letters on SQLite.

A database holding two accounts whose names differ only by case cannot take
the unique index. The upgrade then changes nothing and stops with an error
naming each such group (ids, names, full names, active or not) and what to do:
rename all but one of each group (their history names the spelling they had),
then run any command again. Nothing is renamed or merged automatically: which
account a person signs in with is not a guess to make for them.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def _key(username: str) -> str:
    """engine.store.username_key as of this revision (a test keeps them equal)."""
    return unicodedata.normalize("NFC", username).casefold()


def clashes(rows: list[tuple[int, str, str, bool]]) -> list[list[tuple[int, str, str, bool]]]:
    """The groups of (id, username, full name, active) whose usernames differ only by case, each by id."""
    groups: dict[str, list[tuple[int, str, str, bool]]] = {}
    for row in sorted(rows):
        groups.setdefault(_key(row[1]), []).append(row)
    return [g for g in groups.values() if len(g) > 1]


def clash_error(groups: list[list[tuple[int, str, str, bool]]]) -> Exception:
    """The error the upgrade stops with: English text, with its Vietnamese (``vi``) for the CLI and the web."""
    from engine.errors import QuytrinhError

    def said(g: list[tuple[int, str, str, bool]], inactive: str) -> str:
        return ", ".join(f"'{name}' (id {uid}{', ' + full if full else ''}{'' if active else ', ' + inactive})"
                         for uid, name, full, active in g)

    en = "; ".join(said(g, "deactivated") for g in groups)
    vi = "; ".join(said(g, "ngừng hoạt động") for g in groups)
    first = groups[0][-1]
    exc = QuytrinhError(
        f"cannot make usernames case-insensitive (migration 0014): these accounts differ only by case: {en}. "
        f"Nothing was changed. Rename all but one account of each group in the database (e.g. UPDATE users SET "
        f"username = '{first[1]}2' WHERE id = {first[0]}), then run the command again")
    exc.vi = (f"Không nâng cấp được cơ sở dữ liệu (migration 0014: tên đăng nhập không phân biệt chữ hoa, chữ "
              f"thường): các tài khoản sau chỉ khác nhau ở chữ hoa, chữ thường: {vi}. Chưa có gì thay đổi. Hãy đổi "
              f"tên mọi tài khoản trừ một trong mỗi nhóm, ngay trong cơ sở dữ liệu (ví dụ: UPDATE users SET "
              f"username = '{first[1]}2' WHERE id = {first[0]}), rồi chạy lại lệnh.")
    return exc


def upgrade() -> None:
    conn = op.get_bind()
    rows = [(int(r[0]), str(r[1]), str(r[2] or ""), bool(r[3]))
            for r in conn.execute(sa.text("SELECT id, username, full_name, active FROM users")).all()]
    found = clashes(rows)
    if found:  # before any change: the upgrade's transaction has nothing to undo
        raise clash_error(found)
    # Plain ALTER TABLE (as 0008), not a batch: on SQLite a batch copies the table, and dropping the old
    # ``users`` would break the foreign keys work items hold to it. NOT NULL needs a default there: ''.
    op.add_column('users', sa.Column('username_key', sa.String(length=256), nullable=False, server_default=''))
    for uid, name, _, _ in rows:
        conn.execute(sa.text("UPDATE users SET username_key = :k WHERE id = :id"), {"k": _key(name), "id": uid})
    op.create_index('ux_users_username_key', 'users', ['username_key'], unique=True)


def downgrade() -> None:
    op.drop_index('ux_users_username_key', table_name='users')
    op.drop_column('users', 'username_key')

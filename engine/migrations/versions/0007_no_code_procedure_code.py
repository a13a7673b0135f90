"""Dossiers of procedures without a national code name their procedure by its key again.

A definition loaded back from the database took its key from its source's
name, ``<slug vN>``, instead of the slug it was published under, so the
dossiers of those procedures were stored with ``procedure_code`` =
``<slug vN>``, which matches no definition_versions row (reports by
procedure, the counter's repeat check and the heatmap did not find them).
Their procedure_code becomes that of the version they pinned. Their codes
(``<slug vN>-YYYYMMDD-NNNNNN``) do not change: a dossier's code is permanent.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE dossiers SET procedure_code = (SELECT definition_versions.procedure_code "
               "FROM definition_versions WHERE definition_versions.id = dossiers.definition_id) "
               "WHERE procedure_code LIKE '<%'")


def downgrade() -> None:
    pass  # the wrong names are not worth restoring

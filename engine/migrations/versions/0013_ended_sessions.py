"""ended_sessions: the web sessions their users signed out of.

The session cookie is signed, not stored: signing out cleared it in the
browser, but a copy of it (a shared computer, a proxy's log) still signed
the user in until it expired, 12 hours after sign-in. Sign-out now records
the session's id, and every web process refuses a cookie of a session
recorded here.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ended_sessions',
        sa.Column('sid', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sid'),
    )
    op.create_index('ix_ended_sessions_user_id', 'ended_sessions', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ended_sessions_user_id', table_name='ended_sessions')
    op.drop_table('ended_sessions')

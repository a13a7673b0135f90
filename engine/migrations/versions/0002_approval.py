"""The approval workflow of definitions: drafts on their way to approval, and
their append-only review history.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('definition_drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('procedure_code', sa.String(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=1000), nullable=False),
    sa.Column('level', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('warnings', sa.Integer(), nullable=False),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submitted_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decision_number', sa.String(length=100), nullable=True),
    sa.Column('decision_date', sa.Date(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('published_id', sa.Integer(), nullable=True),
    sa.Column('published_version', sa.Integer(), nullable=True),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['published_id'], ['definition_versions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('procedure_code', 'number', name='uq_definition_drafts_code_number')
    )
    with op.batch_alter_table('definition_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_definition_drafts_procedure_code'), ['procedure_code'], unique=False)
        batch_op.create_index('uq_definition_drafts_one_open', ['procedure_code'], unique=True,
                              sqlite_where=sa.text("status IN ('draft', 'submitted')"),
                              postgresql_where=sa.text("status IN ('draft', 'submitted')"))

    op.create_table('definition_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('draft_id', sa.Integer(), nullable=False),
    sa.Column('procedure_code', sa.String(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('decision_number', sa.String(length=100), nullable=True),
    sa.Column('decision_date', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['draft_id'], ['definition_drafts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('definition_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_definition_reviews_draft_id'), ['draft_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_definition_reviews_procedure_code'), ['procedure_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('definition_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_definition_reviews_procedure_code'))
        batch_op.drop_index(batch_op.f('ix_definition_reviews_draft_id'))
    op.drop_table('definition_reviews')
    with op.batch_alter_table('definition_drafts', schema=None) as batch_op:
        batch_op.drop_index('uq_definition_drafts_one_open')
        batch_op.drop_index(batch_op.f('ix_definition_drafts_procedure_code'))
    op.drop_table('definition_drafts')

"""Watched pages and threads with what each user last saw, and private watchlist feed tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watches",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("page", sa.String(1024), primary_key=True),
        sa.Column("thread", sa.String(32), primary_key=True),
        sa.Column("seen_at", sa.Integer, nullable=False),
        sa.Column("seen_commit", sa.String(40)),
        sa.Column("stamp", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_watches_page", "watches", ["page"])
    op.create_table(
        "watch_feeds",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("watch_feeds")
    op.drop_index("ix_watches_page", table_name="watches")
    op.drop_table("watches")

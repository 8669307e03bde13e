"""An index on (user_id, stamp) of watches, for the watch state.

A user's watch state is the newest stamp of their rows: one index seek whatever the number of
watched pages (it was a count over every row of the user).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_watches_user_stamp", "watches", ["user_id", "stamp"])


def downgrade() -> None:
    op.drop_index("ix_watches_user_stamp", table_name="watches")

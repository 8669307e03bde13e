"""Alembic environment: migrations run on the connection wiki.core.db.migrate hands over."""

from alembic import context

from wiki.core.db import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through `alembic` on the command line
    raise SystemExit("Run migrations through `wiki` (wiki.core.db.migrate), which supplies the connection.")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

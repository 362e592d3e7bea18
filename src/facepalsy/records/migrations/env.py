"""Alembic's entry point, run by ``records.store.upgrade`` with the store's connection in the config's attributes:
never from a URL in an ini file, so that a database URL with a password is never written anywhere."""

from __future__ import annotations

from alembic import context

from facepalsy.records.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

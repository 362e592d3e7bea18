"""Alembic migrations of the record store, applied by ``RecordStore`` on open (``env.py`` runs them on the store's
own connection)."""

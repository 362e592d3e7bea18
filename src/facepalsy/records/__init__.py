"""The patient record store: a patient's exams in a real database (SQLite by default, PostgreSQL by URL), its schema
and Alembic migrations, the history of visits with change judged against the minimal detectable change, and the
privacy rules (pseudonymous ids, a private file, forget and export). It stores readings and hashes, never a photo
unless asked (``--keep-photos``)."""

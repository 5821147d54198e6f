"""Alembic revisions of the register."""

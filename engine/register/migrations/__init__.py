"""Alembic migrations of the register (run in code by engine.register.db.migrate)."""

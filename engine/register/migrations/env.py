"""Alembic environment of the register: the connection comes from engine.register.db.migrate."""

from __future__ import annotations

from alembic import context

from engine.register.db import make_engine, metadata, writing

config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
else:  # pragma: no cover - `alembic` run by hand with sqlalchemy.url set
    engine = make_engine(str(config.get_main_option("sqlalchemy.url")))
    with writing(engine).begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()

"""The register's database: tables (SQLAlchemy Core), connection, schema version (Alembic).

SQLite by default (one file, nothing to start), any SQLAlchemy URL otherwise (e.g.
`postgresql+psycopg://user@host/parcours`) with the same code. The schema is created and
upgraded by the Alembic migrations shipped in `engine/register/migrations/`, run in code (no
alembic.ini). A new, empty database is created at the current schema automatically; an
older one is refused with a French message naming `parcours runs migrate`.
"""

from __future__ import annotations

import atexit
import os
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.model.errors import ParcoursError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEFAULT_FILE = "registre.sqlite"
ENV_VAR = "PARCOURS_REGISTER"


class RegisterError(ParcoursError):
    """The register cannot do what was asked; `str(error)` is the French message to show."""


metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # current | superseded
    sa.Column("superseded_by", sa.Integer, sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.Column("recorded_by", sa.String(200), nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("final", sa.Boolean, nullable=False),
    sa.Column("rules_sha256", sa.String(64), nullable=False),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("n_conventions", sa.Integer, nullable=False),
    sa.Column("earned_cents", sa.BigInteger, nullable=False),
    sa.Column("paid_cents", sa.BigInteger, nullable=False),
    sa.Column("solde_cents", sa.BigInteger, nullable=False),
    sa.Column("manifest", sa.JSON, nullable=False),
    sa.Column("results", sa.JSON, nullable=False),
    sa.Index(
        "uq_runs_current_label",
        "label",
        unique=True,
        sqlite_where=sa.text("status = 'current'"),
        postgresql_where=sa.text("status = 'current'"),
    ),
)

run_files = sa.Table(
    "run_files",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),  # rules | input
    sa.Column("name", sa.String(500), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("content", sa.Text, nullable=True),
)

run_conventions = sa.Table(
    "run_conventions",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("convention_id", sa.String(100), primary_key=True),
    sa.Column("dispositif", sa.String(50), nullable=False),
    sa.Column("structure", sa.String(200), nullable=False),
    sa.Column("final", sa.Boolean, nullable=False),
    sa.Column("quantitative_score", sa.Float, nullable=True),
    sa.Column("qualitative_score", sa.Float, nullable=True),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("earned_cents", sa.BigInteger, nullable=False),
    sa.Column("paid_cents", sa.BigInteger, nullable=False),
    sa.Column("solde_cents", sa.BigInteger, nullable=False),
    sa.Column("paid_origin", sa.String(20), nullable=False),  # registre | extrait
    sa.Column("flags", sa.JSON, nullable=False),
    sa.Column("decisions", sa.JSON, nullable=False),
    sa.Column("figures", sa.JSON, nullable=False),
    sa.Column("next_instalment", sa.JSON, nullable=True),
)

run_indicators = sa.Table(
    "run_indicators",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("convention_id", sa.String(100), primary_key=True),
    sa.Column("indicator_id", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("numerator", sa.BigInteger, nullable=True),
    sa.Column("denominator", sa.BigInteger, nullable=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("evaluable", sa.Boolean, nullable=False),
)

run_tables = sa.Table(
    "run_tables",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("table_name", sa.String(100), primary_key=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("kept", sa.BigInteger, nullable=False),
    sa.Column("rejected", sa.BigInteger, nullable=False),
)

run_rejected = sa.Table(
    "run_rejected",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("table_name", sa.String(100), nullable=False),
    sa.Column("file", sa.String(500), nullable=True),
    sa.Column("line", sa.BigInteger, nullable=True),
    sa.Column("column_name", sa.String(200), nullable=True),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("convention_id", sa.String(100), nullable=False, index=True),
    sa.Column("paid_on", sa.Date, nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("reference", sa.String(200), nullable=False),
    sa.Column("origin", sa.String(500), nullable=False),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.Column("recorded_by", sa.String(200), nullable=False),
    sa.UniqueConstraint("convention_id", "reference", name="uq_payments_reference"),
)


# --------------------------------------------------------------------------- where


def register_url(option: str | None, data: Path | None = None) -> str:
    """The register's URL: `--register` (a file or a URL), else $PARCOURS_REGISTER, else a file.

    The default file is `registre.sqlite` beside the data folder (or in the current folder
    when there is no data argument).
    """
    value = option or os.environ.get(ENV_VAR) or None
    if value is None:
        base = data.resolve().parent if data is not None else Path.cwd()
        return f"sqlite:///{base / DEFAULT_FILE}"
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).resolve()}"


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as typed
        return url


def _sqlite_file(url: str) -> Path | None:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def register_exists(url: str) -> bool:
    """Whether the register at `url` may exist: False only for a SQLite file not created yet."""
    file = _sqlite_file(url)
    return file is None or file.exists()


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _dispose_engines() -> None:
    """Close the connections still open when the process ends.

    The CLI leaves without the interpreter's teardown (`engine.cli.main`) but runs the exit
    handlers: a database server sees a clean goodbye, not a reset connection.
    """
    for engine in list(_ENGINES):
        engine.dispose()


def make_engine(url: str) -> Engine:
    """An engine (closed at exit, `_dispose_engines`); see `_make_engine`."""
    engine = _make_engine(url)
    _ENGINES.add(engine)
    return engine


def _make_engine(url: str) -> Engine:
    """An engine; on SQLite a writing transaction (`writing(engine)`) takes the lock at once.

    BEGIN IMMEDIATE: two processes recording at once queue (30 s) instead of failing half-way;
    reading transactions stay deferred, so that reading never waits for a recording.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise RegisterError(
            f"Adresse de registre invalide « {url} » (un fichier .sqlite ou une URL"
            " SQLAlchemy, par exemple postgresql+psycopg://utilisateur@hôte/base)."
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA foreign_keys = ON")

        @sa.event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            mode = "IMMEDIATE" if connection.get_execution_options().get("parcours_write") else "DEFERRED"
            connection.exec_driver_sql(f"BEGIN {mode}")

        return engine
    try:
        return sa.create_engine(url)
    except (ImportError, sa.exc.NoSuchModuleError) as error:
        raise RegisterError(
            f"Pilote de base de données absent pour {shown(url)} ({error}) ; pour PostgreSQL, installer"
            " l'extra « postgres » (pip install 'parcours[postgres]')."
        ) from None


def writing(engine: Engine) -> Engine:
    """The engine for a writing transaction (BEGIN IMMEDIATE on SQLite)."""
    return engine.execution_options(parcours_write=True)


# --------------------------------------------------------------------------- schema version


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The schema version this code expects."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> tuple[str | None, bool]:
    """(revision stored in the database or None, whether the database has any table)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
        has_tables = bool(sa.inspect(conn).get_table_names())
    return revision, has_tables


def migrate(url: str) -> tuple[str | None, str]:
    """Upgrade the database at `url` to the current schema; (before, after)."""
    from alembic import command

    engine = make_engine(url)
    try:
        before, _ = _guarded(lambda: current_revision(engine), url)
        config = _alembic_config(url)
        with writing(engine).begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        return before, head_revision()
    finally:
        engine.dispose()


def _guarded(action: Any, url: str) -> Any:
    try:
        return action()
    except sa.exc.OperationalError as error:
        raise RegisterError(f"Registre {shown(url)} inaccessible : {error.orig}") from None


def open_register(url: str, create: bool = False) -> Engine:
    """An engine on a register at the current schema version, or a French RegisterError.

    `create`: a missing SQLite file or an empty database is created at the current schema
    (automatic upgrade of a new register). A register at an older version is refused with the
    command to run; one from a newer parcours is refused too.
    """
    file = _sqlite_file(url)
    if file is not None and not file.exists():
        if not create:
            raise RegisterError(
                f"Registre {file} introuvable : enregistrer d'abord une évaluation"
                " (parcours evaluate … --record « LIBELLÉ ») ou indiquer --register FICHIER."
            )
        if not file.parent.is_dir():
            raise RegisterError(f"Dossier {file.parent} introuvable pour le registre {file.name}.")
    engine = make_engine(url)
    revision, has_tables = _guarded(lambda: current_revision(engine), url)
    head = head_revision()
    if revision == head:
        return engine
    if revision is None and not has_tables:
        if not create:
            raise RegisterError(
                f"Le registre {shown(url)} est vide : enregistrer d'abord une évaluation"
                " (parcours evaluate … --record « LIBELLÉ »)."
            )
        engine.dispose()
        migrate(url)
        return make_engine(url)
    engine.dispose()
    if revision is None:
        raise RegisterError(f"{shown(url)} n'est pas un registre parcours (tables sans version de schéma).")
    from alembic.script import ScriptDirectory

    known = {rev.revision for rev in ScriptDirectory.from_config(_alembic_config(url)).walk_revisions()}
    if revision not in known:
        raise RegisterError(
            f"Le registre {shown(url)} est à la version de schéma {revision}, inconnue de ce"
            f" programme (version attendue {head}) : il a été créé par une version plus récente"
            " de parcours ; mettre parcours à jour."
        )
    raise RegisterError(
        f"Le registre {shown(url)} est à la version de schéma {revision}, ce programme attend"
        f" la version {head} : sauvegarder le registre puis lancer"
        f" « parcours runs migrate --register {shown(url)} »."
    )

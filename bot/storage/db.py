"""Engine, sessions and schema migrations.

SQLite is the embedded default and PostgreSQL the production database; the
differences (foreign keys, WAL, row locks) are handled here and nowhere else.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
logger = logging.getLogger(__name__)
Result = TypeVar("Result")


def make_engine(url: str, sqlite_busy_timeout: float = 30.0, pool_timeout: float = 30.0) -> Engine:
    """`pool_timeout`: seconds to wait for a free PostgreSQL connection before
    giving up; the web app sets its webhook deadline, since a turn that waits
    longer is answered "retry" anyway."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, future=True, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": sqlite_busy_timeout}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(sqlite_busy_timeout * 1000)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
            # SQLite has no row locks: taking the write lock at BEGIN serialises
            # read-check-write sequences (seat counts, claims) the way
            # SELECT ... FOR UPDATE does on PostgreSQL.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # hide_parameters: a failed statement's error must not carry people's messages into the logs.
    # No pool_pre_ping: a test query before every transaction costs a round trip
    # per turn; a dropped connection is noticed by the statement that fails on
    # it, which throws the pool's connections away, and the turn is run again
    # (bot.core.Core.take).
    # values_plus_batch: an UPDATE run for many rows (the outbox's settle of a
    # batch) goes as one round trip (psycopg2's execute_batch), not one per row.
    return create_engine(
        url, future=True, hide_parameters=True, pool_size=10, max_overflow=20, pool_timeout=pool_timeout,
        executemany_mode="values_plus_batch",
    )


def again_if_disconnected(work: Callable[[], Result]) -> Result:
    """Run `work` (one whole transaction) and, when the database had dropped
    the connection under it (restart, failover, idle cut), once more.

    Nothing of the failed try committed, and the failing statement made the
    pool throw its stale connections away, so the second try runs on a fresh
    one. This replaces a test query before every checkout (pool_pre_ping),
    which costs a round trip per transaction.
    """
    try:
        return work()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        logger.warning("database connection lost; running the transaction again")
        return work()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, future=True, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; run at every start)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        hold_startup_lock(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


STARTUP_LOCK = 7_241_001  # any constant; shared by every Desmigras process on one database


def hold_startup_lock(connection: Connection) -> None:
    """Several workers starting together must not migrate or load villages at
    the same time; PostgreSQL serialises them with a transaction advisory lock
    (SQLite's BEGIN IMMEDIATE already does)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({STARTUP_LOCK})")

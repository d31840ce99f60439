"""Shared fixtures: the real trained NLU model (loaded once per test session) and
real databases, SQLite and PostgreSQL, each test on a fresh database.

The schema is migrated once per session (issue 25): each test gets its own copy
of a migrated database (a copied file on SQLite, `CREATE DATABASE ... TEMPLATE`
on PostgreSQL), exactly what a fresh migration leaves, so tests stay as
isolated as before without paying for the migration every time. The bot still
runs `migrate` at start, which finds the schema at head; migrating from an empty
database is what builds the templates, and tests that start from an empty file
of their own still do it."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from bot.app import Bot, build_bot  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import PROJECT_ROOT, Settings  # noqa: E402
from bot.storage.db import make_engine, migrate  # noqa: E402
from nlu.classifier import Understanding, load_classifier  # noqa: E402
from nlu.model_files import current_model_path  # noqa: E402
from nlu.worker_client import WorkerClassifier  # noqa: E402
from nlu.worker_process import nlu_python, rasa_is_here, start_worker  # noqa: E402
from tests.chat import Chat  # noqa: E402

POSTGRES_URL = os.environ.get("DESMIGRAS_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


class CountingClassifier:
    """The real classifier, counting its calls (to show which turns skip NLU)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.calls = 0

    def parse(self, text: str) -> Understanding:
        self.calls += 1
        return self.inner.parse(text)


@pytest.fixture(scope="session")
def real_classifier():  # type: ignore[no-untyped-def]
    """The trained model: in-process in the Rasa venv; on the service's Python
    through one NLU worker for the whole session, as in production."""
    path = current_model_path()
    if not path.exists():
        subprocess.run([nlu_python(), "-m", "nlu.train"], cwd=PROJECT_ROOT, check=True)
    if rasa_is_here():
        yield load_classifier(path)
        return
    running = os.environ.get("DESMIGRAS_TEST_NLU_WORKER", "").strip()
    if running:  # a worker you started on this model (saves its minute of loading per pytest run)
        yield WorkerClassifier(running, timeout=60.0)
        return
    worker = start_worker(port=0)
    # timeout: a loaded CI machine must not fake an outage; token: the TCP worker answers no one without it
    yield WorkerClassifier(worker.address, timeout=60.0, token=worker.token)
    worker.stop()


def pytest_collection_modifyitems(config, items) -> None:  # type: ignore[no-untyped-def]
    """Tests marked `rasa` load the model in-process: they run in the Rasa venv
    (`./dev test` runs both sides); the service's Python leaves them out, and
    the Rasa venv runs only them."""
    here = rasa_is_here()
    keep = [item for item in items if (item.get_closest_marker("rasa") is not None) == here]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


@pytest.fixture
def classifier(real_classifier) -> CountingClassifier:  # type: ignore[no-untyped-def]
    return CountingClassifier(real_classifier)


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, future=True)
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def _require_postgres() -> None:
    if not _postgres_available():
        if os.environ.get("DESMIGRAS_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required but not reachable at {POSTGRES_URL}")
        pytest.skip("PostgreSQL not reachable")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """The name of a PostgreSQL database migrated once for the session, the
    template of every test's database; dropped at the end. Connections to it
    are then refused: CREATE DATABASE ... TEMPLATE needs it unused."""
    _require_postgres()
    name = f"desmigras_tpl_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
        migrate(engine)
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _database_for_one_test(template: str = "") -> Iterator[str]:
    name = f"desmigras_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(request) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh PostgreSQL database for one test (a copy of the migrated
    template), dropped afterwards."""
    _require_postgres()
    yield from _database_for_one_test(request.getfixturevalue("postgres_template"))


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database with no tables at all, for tests that run
    the migrations themselves (a backfill written by one migration)."""
    _require_postgres()
    yield from _database_for_one_test()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """A SQLite file migrated once for the session; each test gets a copy."""
    path = tmp_path_factory.mktemp("migrated") / "desmigras.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    # closing the last connection checkpoints the WAL into the file and removes it: the file is the whole database
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert leftovers == [], f"the migrated SQLite file is not self-contained: {leftovers}"
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        path = tmp_path / "desmigras.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def make_settings(database_url: str, **overrides) -> Settings:  # type: ignore[no-untyped-def]
    values = dict(
        database_url=database_url,
        content_dir=PROJECT_ROOT / "content",
        model_dir=PROJECT_ROOT / "models",
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def bot(database_url: str, classifier: CountingClassifier, clock: ManualClock) -> Iterator[Bot]:
    built = build_bot(make_settings(database_url), classifier=classifier, clock=clock)
    yield built
    built.engine.dispose()


@pytest.fixture
def chat(bot: Bot) -> Chat:
    return Chat(bot, sender="6281200000001")

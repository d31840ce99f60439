"""Shared fixtures: the real trained NLU model (loaded once per test session) and
real databases, SQLite and PostgreSQL, each test on a fresh database.

The schema is migrated once per session (issue 25): each test gets its own copy
of a migrated database (a copied file on SQLite, `CREATE DATABASE ... TEMPLATE`
on PostgreSQL), exactly what a fresh migration leaves, so tests stay as
isolated as before without paying for the migration every time. The bot still
runs `migrate` at start, which finds the schema at head; migrating from an empty
database is what builds the templates, and tests that start from an empty file
of their own still do it.

Two more costs every database test paid are taken off its path (issue 25):
PostgreSQL copies are made ahead and dropped after the test by background
threads (`PostgresCopies`: CREATE and DROP DATABASE wait on the disk, about
0.3 s and 0.4 s on 2 cores). Every bot still reads its content folder itself
(`load_content`, about 40 ms with libyaml; see `bench.content_load`).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Iterator, Optional

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
from nlu.worker_process import RunningWorker, nlu_python, rasa_is_here, start_worker  # noqa: E402
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


def _trained_model() -> Path:
    path = current_model_path()
    if not path.exists():
        subprocess.run([nlu_python(), "-m", "nlu.train"], cwd=PROJECT_ROOT, check=True)
    return path


@pytest.fixture(scope="session")
def session_nlu_worker() -> Iterator[Optional[RunningWorker]]:
    """The TCP worker this session started for the service's tests (with its
    own token), or None: in the Rasa venv the model is in-process, and with
    DESMIGRAS_TEST_NLU_WORKER a worker you started is used. The NLU worker
    tests use this one as their external worker too (issue 25: one model load
    less, most of a minute on 2 cores); the degradation test kills it and
    starts it again on the same port and token, so it is this object's
    process that the session stops at the end."""
    _trained_model()
    if rasa_is_here() or os.environ.get("DESMIGRAS_TEST_NLU_WORKER", "").strip():
        yield None
        return
    worker = start_worker(port=0)
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def real_classifier(request):  # type: ignore[no-untyped-def]
    """The trained model: in-process in the Rasa venv; on the service's Python
    through one NLU worker for the whole session, as in production."""
    path = _trained_model()
    if rasa_is_here():
        return load_classifier(path)
    running = os.environ.get("DESMIGRAS_TEST_NLU_WORKER", "").strip()
    if running:  # a worker you started on this model (saves its minute of loading per pytest run)
        return WorkerClassifier(running, timeout=60.0)
    worker: RunningWorker = request.getfixturevalue("session_nlu_worker")
    # timeout: a loaded CI machine must not fake an outage; token: the TCP worker answers no one without it
    return WorkerClassifier(worker.address, timeout=60.0, token=worker.token)


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


def _url_of(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


class PostgresCopies:
    """Fresh copies of the migrated template, made ahead of the tests that will
    use them, and used ones dropped after their test, by two background
    threads (one creates, one drops): CREATE and DROP DATABASE mostly wait on
    the disk, so they overlap the tests instead of adding to them. Every test
    still gets a database of its own, made from the template and never used
    before; it is dropped after the test as before, only a moment later. A
    failure to create one fails the test that waits for it; a failure to drop
    one fails the session's end."""

    AHEAD = 2  # copies being made or ready for the next tests

    def __init__(self, template: str) -> None:
        self.template = template
        self.admin = create_engine(POSTGRES_URL, future=True, isolation_level="AUTOCOMMIT")
        self.to_create: queue.Queue[Optional[str]] = queue.Queue()
        self.made: queue.Queue[tuple[str, Optional[BaseException]]] = queue.Queue()
        self.to_drop: queue.Queue[Optional[str]] = queue.Queue()
        self.asked = 0  # copies asked for and not yet taken
        self.drop_errors: list[str] = []
        self.creator = threading.Thread(target=self._create, name="postgres-copies-create", daemon=True)
        self.dropper = threading.Thread(target=self._drop, name="postgres-copies-drop", daemon=True)
        self.creator.start()
        self.dropper.start()

    def _create(self) -> None:
        while (name := self.to_create.get()) is not None:
            try:
                with self.admin.connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
            except BaseException as error:  # noqa: BLE001 - raised in the test that takes this copy
                self.made.put((name, error))
            else:
                self.made.put((name, None))

    def _drop(self) -> None:
        while (name := self.to_drop.get()) is not None:
            try:
                with self.admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except BaseException as error:  # noqa: BLE001 - reported at the session's end
                self.drop_errors.append(f"{name}: {error}")

    def _ask(self) -> None:
        self.asked += 1
        self.to_create.put(f"desmigras_t_{uuid.uuid4().hex[:10]}")

    def take(self) -> str:
        """A new copy for one test; the next tests' copies are asked for at once."""
        if self.asked == 0:
            self._ask()
        name, error = self.made.get()
        self.asked -= 1
        while self.asked < self.AHEAD:
            self._ask()
        if error is not None:
            self.to_drop.put(name)
            raise error
        return name

    def give_back(self, name: str) -> None:
        self.to_drop.put(name)

    def close(self) -> None:
        while self.asked:  # copies made ahead for tests that never came
            name, _error = self.made.get()
            self.asked -= 1
            self.to_drop.put(name)
        self.to_create.put(None)
        self.creator.join()
        self.to_drop.put(None)
        self.dropper.join()
        self.admin.dispose()
        assert not self.drop_errors, f"test databases not dropped: {self.drop_errors}"


@pytest.fixture(scope="session")
def postgres_copies(postgres_template: str) -> Iterator[PostgresCopies]:
    copies = PostgresCopies(postgres_template)
    yield copies
    copies.close()


def _database_for_one_test(template: str = "") -> Iterator[str]:
    name = f"desmigras_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    url = _url_of(name)
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
    copies: PostgresCopies = request.getfixturevalue("postgres_copies")
    name = copies.take()
    try:
        yield _url_of(name)
    finally:
        copies.give_back(name)


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


# The shipped content's example trainings have dates; a test that ran on the
# real clock would fail on the day the first one starts (it did, on 2026-12-08).
# Behaviour tests run on a fixed day before them, like tests/test_trainings.py.
TEST_DAY = datetime(2026, 11, 23, 3, 0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(TEST_DAY)


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

"""The Alembic migrations build exactly the schema the models describe, and go down and up again cleanly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from edudesk import migrate
from edudesk.db import Database
from edudesk.models import Base
from tests.conftest import PG_ADMIN_DSN


def schema_differences(url: str) -> list[object]:
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        db.dispose()


def tables(url: str) -> set[str]:
    db = Database(url)
    try:
        return set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()


def current_revision(url: str) -> str | None:
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        db.dispose()


def test_models_and_migrations_agree(db_url: str) -> None:
    """Every model change must come with a migration: autogenerate finds nothing left to do."""
    assert schema_differences(db_url) == []
    head = ScriptDirectory.from_config(migrate.alembic_config(db_url)).get_current_head()
    assert current_revision(db_url) == head


def test_single_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, "two migration branches: add a merge revision"


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    request.getfixturevalue("pg_url")  # skips (or fails under CI) when PostgreSQL is down
    name = f"edudesk_migrations_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_downgrade_to_base_and_upgrade_again(scratch_url: str) -> None:
    model_tables = set(Base.metadata.tables)
    migrate.upgrade(scratch_url)
    assert tables(scratch_url) - {"alembic_version"} == model_tables
    command.downgrade(migrate.alembic_config(scratch_url), "base")
    assert tables(scratch_url) - {"alembic_version"} == set()
    assert current_revision(scratch_url) is None
    migrate.upgrade(scratch_url)
    assert tables(scratch_url) - {"alembic_version"} == model_tables
    assert schema_differences(scratch_url) == []
    migrate.upgrade(scratch_url)  # upgrading an up-to-date database is a no-op
    assert schema_differences(scratch_url) == []

"""What every ``edudesk`` subcommand shares: one ``edudesk: …`` line on stderr and a non-zero exit for every
failure caused by input or environment (tracebacks are for bugs), and settings/database from the environment.

A module of its own so that area CLIs (``kb``, …) use it without importing ``edudesk.cli``, which imports them.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from edudesk.db import Database, NotFoundError
from edudesk.errors import DomainError
from edudesk.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"edudesk: {message}", file=sys.stderr)
    raise typer.Exit(code)


def clean_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except DomainError as exc:
            fail(exc.message)
        except NotFoundError as exc:
            fail(f"找不到机构 {exc.ident}" if exc.what == "Org" else f"找不到 {exc.what} {exc.ident}")
        except OperationalError as exc:
            fail(f"无法连接或读写数据库：{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}")
        except SQLAlchemyError as exc:
            fail(f"数据库错误：{str(exc).splitlines()[0]}")
        except OSError as exc:
            fail(f"{exc.filename or ''} {exc.strerror or exc}".strip())
    return wrapper  # type: ignore[return-value]


def settings_from_env(database_url: str | None = None) -> Settings:
    try:
        return Settings(database_url=database_url) if database_url else Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"配置有误（{'.'.join(str(p) for p in first.get('loc', ()))}）：{first.get('msg', '')}")


@contextmanager
def database(database_url: str | None) -> Iterator[Database]:
    db = Database(settings_from_env(database_url).database_url)
    try:
        yield db
    finally:
        db.dispose()

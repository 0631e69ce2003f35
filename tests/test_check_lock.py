"""scripts/check_lock.py, run by `make lint`: the committed locks match pyproject.toml, and the check really notices
when they do not (a dependency added but not locked, a pin outside its range, a removed one still locked, a pin
without a hash)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_lock"] = module
    spec.loader.exec_module(module)
    return module


check_lock = _load()

LOCK = """\
#
#    make lock
#
fastapi==0.165.0 \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
    # via edudesk (pyproject.toml)
starlette==1.10.0 \\
    --hash=sha256:cccc
    # via
    #   edudesk (pyproject.toml)
    #   fastapi
anyio==4.16.0 \\
    --hash=sha256:dddd
    # via starlette
"""


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "runtime.txt"
    path.write_text(LOCK, encoding="utf-8")
    return path


def test_the_committed_locks_match_pyproject() -> None:
    assert check_lock.main() == 0


def test_a_lock_that_matches_has_no_problem(lock: Path) -> None:
    pins = check_lock.read_lock(lock)
    assert pins["fastapi"].hashes == {"sha256:aaaa", "sha256:bbbb"} and pins["anyio"].via == ["starlette"]
    assert check_lock.check(["fastapi>=0.115,<1", "Starlette>=1"], pins, lock) == []


@pytest.mark.parametrize(("declared", "problem"), [
    (["fastapi>=0.115,<1", "starlette>=1", "jinja2>=3.1,<4"], "jinja2 is in pyproject.toml but not locked"),
    (["fastapi>=0.200,<1", "starlette>=1"], "fastapi==0.165.0 does not satisfy"),
    (["fastapi>=0.115,<1"], "starlette is locked as a direct dependency but pyproject.toml has it no more"),
])
def test_a_disagreement_is_named(lock: Path, declared: list[str], problem: str) -> None:
    problems = check_lock.check(declared, check_lock.read_lock(lock), lock)
    assert len(problems) == 1 and problem in problems[0]


def test_markers_that_do_not_apply_are_not_required(lock: Path) -> None:
    declared = ["fastapi>=0.115,<1", "starlette>=1", "pywin32>=300; sys_platform == 'win32'"]
    assert check_lock.check(declared, check_lock.read_lock(lock), lock) == []


def test_a_pin_without_a_hash_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "runtime.txt"
    path.write_text("fastapi==0.165.0\n    # via edudesk (pyproject.toml)\n", encoding="utf-8")
    problems = check_lock.check(["fastapi>=0.115,<1"], check_lock.read_lock(path), path)
    assert problems == ["runtime.txt: fastapi==0.165.0 has no hash"]

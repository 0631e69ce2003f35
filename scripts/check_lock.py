"""Fails when pyproject.toml's dependencies and the hash locks in requirements/ disagree.

`make install` installs the locks and then edudesk itself with --no-deps, so a dependency added to pyproject.toml
but not locked would be silently missing (and one removed from pyproject would linger). Run by `make lint` and
`make lock`; the fix is always `make lock` (see docs/dependencies.md). Reads files only: no network.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
TEST_LOCK = ROOT / "requirements" / "test.txt"
SOURCE = "edudesk (pyproject.toml)"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


@dataclass
class Pin:
    version: str
    hashes: set[str] = field(default_factory=set)
    via: list[str] = field(default_factory=list)


def read_lock(path: Path) -> dict[str, Pin]:
    """name → pin, hashes and "via" annotations of a pip-compile --generate-hashes file."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        match = _PIN.match(raw)
        if match:
            current = Pin(match.group(2))
            pins[canonicalize_name(match.group(1))] = current
        elif current is not None and line.startswith("--hash="):
            current.hashes.add(line.removeprefix("--hash=").rstrip(" \\"))
        elif current is not None and line.startswith("#"):
            text = line.lstrip("#").strip()
            current.via.append(text.removeprefix("via").strip())
        elif not line:
            current = None
    return pins


def check(declared: list[str], pins: dict[str, Pin], lock: Path) -> list[str]:
    problems: list[str] = []
    wanted: set[str] = set()
    for spec in declared:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        wanted.add(name)
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{lock.name}: {req.name} is in pyproject.toml but not locked")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{lock.name}: {req.name}=={pin.version} does not satisfy pyproject's {spec!r}")
    for locked, pin in pins.items():
        if not pin.hashes:
            problems.append(f"{lock.name}: {locked}=={pin.version} has no hash")
        if SOURCE in pin.via and locked not in wanted:
            problems.append(f"{lock.name}: {locked} is locked as a direct dependency but pyproject.toml has it no more")
    return problems


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime_deps: list[str] = project["dependencies"]
    test_deps: list[str] = project["optional-dependencies"]["test"]
    missing = [p for p in (RUNTIME_LOCK, TEST_LOCK) if not p.exists()]
    if missing:
        print(f"check_lock: {', '.join(str(p.relative_to(ROOT)) for p in missing)} missing: run `make lock`",
              file=sys.stderr)
        return 1
    runtime, test = read_lock(RUNTIME_LOCK), read_lock(TEST_LOCK)
    problems = check(runtime_deps, runtime, RUNTIME_LOCK) + check(runtime_deps + test_deps, test, TEST_LOCK)
    # The test lock is the runtime lock plus the test tools: a package in both must be the very same file set.
    for name, pin in runtime.items():
        other = test.get(name)
        if other is None:
            problems.append(f"{TEST_LOCK.name}: {name} is in the runtime lock but not in the test lock")
        elif (other.version, other.hashes) != (pin.version, pin.hashes):
            problems.append(f"{TEST_LOCK.name}: {name}=={other.version} differs from the runtime lock's "
                            f"{name}=={pin.version}")
    if problems:
        for problem in problems:
            print(f"check_lock: {problem}", file=sys.stderr)
        print("check_lock: pyproject.toml and requirements/*.txt disagree: run `make lock` and review the diff "
              "(docs/dependencies.md)", file=sys.stderr)
        return 1
    print(f"check_lock: {len(runtime)} runtime and {len(test)} test pins match pyproject.toml, all hashed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

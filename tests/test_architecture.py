"""The import-linter contracts (pyproject.toml) name every part of edudesk, so a new area cannot slip out of them.

import-linter itself checks the imports (``make lint``); these tests check the contracts' coverage, which the tool
cannot: a package nobody listed is simply not checked by a ``forbidden`` or ``independence`` contract.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "edudesk"
# Top-level packages of the areas layer that are not business areas: the app state.
NOT_AREAS = {"context"}


def top_level_names(package: Path = PACKAGE) -> set[str]:
    """Every module and package directly under src/edudesk (directories without ``__init__.py`` are data)."""
    names = {p.stem for p in package.glob("*.py") if p.name != "__init__.py"}
    names |= {p.name for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return names


def contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return found


def contract(kind: str, name_start: str) -> dict[str, Any]:
    matching = [c for c in contracts() if c["type"] == kind and c["name"].startswith(name_start)]
    assert len(matching) == 1, f"one {kind} contract named {name_start!r}… expected, found {len(matching)}"
    return matching[0]


def layers() -> list[set[str]]:
    """The top-level names of each layer, highest first (``a : b``, ``a | b``, ``(optional)``, ``pkg.child``)."""
    layered = contract("layers", "Layers")
    return [{re.sub(r"[()]", "", tail).split(".")[0] for tail in re.split(r"[:|]", layer) if tail.strip()}
            for layer in (line.replace(" ", "") for line in layered["layers"])]


def areas() -> set[str]:
    area_layer = next(layer for layer in layers() if "conversations" in layer)
    return area_layer - NOT_AREAS


def short(modules: list[str]) -> set[str]:
    return {m.removeprefix("edudesk.") for m in modules}


def test_every_top_level_module_and_package_has_a_layer() -> None:
    layered = contract("layers", "Layers")
    assert layered["containers"] == ["edudesk"] and layered["exhaustive"] is True
    named = set().union(*layers())
    missing = top_level_names() - named
    assert not missing, f"add {sorted(missing)} to a layer of the layers contract in pyproject.toml"
    gone = named - top_level_names()
    assert not gone, f"the layers contract names {sorted(gone)}, which no longer exist"


def test_every_area_must_reach_the_others_through_their_service() -> None:
    independent = short(contract("independence", "Areas reach each other")["modules"])
    assert independent == areas(), (
        f"areas missing from the independence contract: {sorted(areas() - independent)}; "
        f"not in the areas layer: {sorted(independent - areas())}")


def test_nothing_but_the_channels_may_import_a_specific_channel() -> None:
    sources = short(contract("forbidden", "Nothing imports a specific channel")["source_modules"])
    missing = top_level_names() - {"channels"} - sources
    assert not missing, f"add {sorted(missing)} to the source_modules of 'Nothing imports a specific channel'"


def test_language_processing_needs_no_area() -> None:
    forbidden = short(contract("forbidden", "Language processing")["forbidden_modules"])
    missing = areas() - {"evaluation"} - forbidden
    assert not missing, f"add {sorted(missing)} to the forbidden_modules of 'Language processing …'"


def test_nlp_is_the_lowest_layer_above_the_c_heap_helpers() -> None:
    assert layers()[-2:] == [{"nlp"}, {"cmalloc"}]


def test_a_new_package_is_caught(tmp_path: Path) -> None:
    """The check above sees what a new area looks like on disk (a directory with ``__init__.py``)."""
    (tmp_path / "visitors").mkdir()
    (tmp_path / "visitors" / "__init__.py").write_text("")
    (tmp_path / "templates").mkdir()  # data directories are not packages
    (tmp_path / "limits.py").write_text("")
    assert top_level_names(tmp_path) == {"visitors", "limits"}
    assert not {"visitors", "limits"} <= set().union(*layers())

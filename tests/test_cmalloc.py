"""glibc's malloc through ctypes (cmalloc.py): on this Debian machine both calls reach glibc."""

from __future__ import annotations

from edudesk import cmalloc


def test_trim_reaches_glibc() -> None:
    assert cmalloc.trim() is True


def test_the_arena_cap_is_taken() -> None:
    assert cmalloc.limit_arenas(8) is True  # the default cap on a small machine is higher: 8 changes nothing

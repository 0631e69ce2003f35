"""glibc's malloc, asked through ``ctypes``: hand freed heap pages back and cap the number of arenas. Both matter to
a serving process's RSS (docs/performance.md, "Memory and stalls"); elsewhere than glibc both do nothing.

One place, below every other module (the language layer calls ``trim`` after its start-up builds), so the C
library is looked up once."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
from typing import Any

__all__ = ["limit_arenas", "trim"]

M_ARENA_MAX = -8  # glibc's mallopt parameter number


@functools.cache
def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def trim() -> bool:
    """``malloc_trim(0)``: returns the heap's free pages to the operating system; whether it could be asked."""
    libc = _libc()
    with contextlib.suppress(AttributeError):
        if libc is not None:
            libc.malloc_trim(0)
            return True
    return False


def limit_arenas(arenas: int) -> bool:
    """``mallopt(M_ARENA_MAX, arenas)``, as ``MALLOC_ARENA_MAX`` would; whether glibc took it."""
    libc = _libc()
    with contextlib.suppress(AttributeError):
        if libc is not None:
            return bool(libc.mallopt(M_ARENA_MAX, arenas))
    return False

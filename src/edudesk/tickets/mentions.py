"""@mentions in internal notes: "@王老师 家长要退费，请跟进" tells 王老师 at once and lists the ticket under 提到我的.

Pure: the org's staff come in as (id, username, display name). Chinese names run straight into the next word
("@王老师请跟进"), so at each "@" the longest known name that follows wins; an ASCII username must end at a
non-username character, so "@li" never matches "@lina".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_USERNAME_CHAR = re.compile(r"[A-Za-z0-9_.\-]")
AT_SIGNS = ("@", "＠")


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    display_name: str


def find(text: str, people: Iterable[Person]) -> list[int]:
    """The ids of the people mentioned in ``text``, in order of first mention, each once."""
    names: list[tuple[str, int, bool]] = []  # (name, id, is_username)
    for p in people:
        if p.username:
            names.append((p.username.casefold(), p.id, True))
        if p.display_name.strip():
            names.append((p.display_name.strip().casefold(), p.id, False))
    names.sort(key=lambda n: -len(n[0]))
    folded = text.casefold()
    found: list[int] = []
    for pos, char in enumerate(folded):
        if char not in AT_SIGNS:
            continue
        rest = folded[pos + 1:]
        for name, person_id, is_username in names:
            if not rest.startswith(name):
                continue
            after = rest[len(name):len(name) + 1]
            if is_username and after and _USERNAME_CHAR.match(after):
                continue
            if person_id not in found:
                found.append(person_id)
            break
    return found

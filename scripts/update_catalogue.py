"""Rebuilds locale/en/LC_MESSAGES/messages.po from the templates, keeping existing translations.

Run after changing UI text: ``.venv/bin/python scripts/update_catalogue.py``; then translate the empty entries.
tests/test_i18n.py fails while any extracted string lacks an English translation.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "src/edudesk/locale/en/LC_MESSAGES/messages.po"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "messages.pot"
        subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"),
                        "-o", str(pot), "--no-location", "--omit-header", str(ROOT)], check=True,
                       capture_output=True)
        with pot.open("rb") as fh:
            template = read_po(fh)
    existing = read_po(PO.open("rb"), locale="en") if PO.exists() else None
    for message in template:
        if message.id and existing is not None and existing.get(message.id) is None:
            existing.add(message.id, "")
    with PO.open("wb") as fh:
        write_po(fh, existing or template, omit_header=False, sort_output=True, width=120)


if __name__ == "__main__":
    main()

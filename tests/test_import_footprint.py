"""What a server process imports at start-up: the heavy optional parts are imported by their first use, not by
``import edudesk.app`` (docs/performance.md, "Memory"). Each costs tens of MB in every process."""

from __future__ import annotations

import json
import subprocess
import sys

# module → why it is not needed at start-up
LAZY = {
    "scipy.signal": "voice audio resampling (voice/engines/audio.py)",
    "scipy.optimize": "fitting a KB's classifier (nlp/classifier.py)",
    "pypinyin": "espeak speech synthesis (voice/engines/espeak.py); nlp/pinyin.py reads the table's JSON itself",
    "openpyxl": "spreadsheet import and export (spreadsheets.py)",
    "docx": "Word documents for the large-model assist (llm/documents/extract.py)",
    "pypdf": "PDF documents for the large-model assist",
    "selectolax": "web pages for the large-model assist",
    "onnxruntime": "the optional name model (nlp/extract/names.py)",
    "sherpa_onnx": "the optional speech recogniser",
}


def test_starting_the_app_imports_none_of_the_heavy_optional_parts() -> None:
    probe = "import sys, json, edudesk.app; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                                           text=True).stdout.splitlines()[-1]))
    imported = {name: why for name, why in LAZY.items() if name in loaded}
    assert not imported, f"imported at start-up, though only needed for: {imported}"

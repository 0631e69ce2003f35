"""Light normalisation of visitor text for keyword matching: width, case and surrounding punctuation."""

from __future__ import annotations

import unicodedata

_STRIP = " \t\r\n,.!?;:~，。！？；：～、…\"'“”‘’()（）[]【】"


def normalise(text: str) -> str:
    # NFKC folds full-width letters and digits (ＡＢＣ１２３) to ASCII and compatibility forms to their base.
    return unicodedata.normalize("NFKC", text).lower().strip(_STRIP)

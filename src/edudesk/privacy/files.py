"""Where an attachment's file lies, and deleting files that may already be gone.

The layout (``upload_dir/<org_id>/<storage_key>``) is the one ``channels/web/uploads.path_for`` writes; the core
may not import a channel, so it is repeated here with the same check on the key. Keep the two in step.
"""

from __future__ import annotations

from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


def attachment_path(upload_dir: Path, org_id: int, storage_key: str) -> Path | None:
    """None for a key that is not a plain token (it could not have been written by the upload route)."""
    if not storage_key or not storage_key.replace("-", "").replace("_", "").isalnum():
        return None
    return upload_dir / str(int(org_id)) / storage_key


def paths_of(upload_dir: Path, files: list[tuple[int, str]]) -> list[Path]:
    return [p for org_id, key in files if (p := attachment_path(upload_dir, org_id, key)) is not None]


def remove(paths: list[Path]) -> int:
    """Deletes each file; a file already gone counts as deleted (a purge killed after deleting it, before its
    transaction committed, runs again). Returns how many were on disk. Other errors propagate: the caller's
    transaction then rolls back and the rows that point at the files stay, to be retried."""
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed

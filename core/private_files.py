"""Key material on disk: files only their owner may read, never overwritten."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["create_private_file"]


def create_private_file(path: str | Path, data: bytes) -> None:
    """Create `path` with mode 0600 holding `data` (on disk: fsync), refusing to replace
    anything: FileExistsError when it exists (another process may have created it just
    now; the caller decides). The parent folder is created when missing.

    The data is written to a private temporary file in the same folder and then linked to
    `path` (link fails when `path` exists), so another process never sees the file empty
    or half written: several workers generating the same key at their first request all
    end up reading the one that was linked first.
    """
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".part")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(partial, file)
    finally:
        os.unlink(partial)

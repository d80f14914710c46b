"""Key material on disk: files only their owner may read, never overwritten."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["create_private_file"]


def create_private_file(path: str | Path, data: bytes) -> None:
    """Create `path` with mode 0600 and write `data` to disk (fsync), refusing to replace
    anything: FileExistsError when it exists (another process may have created it just
    now; the caller decides). The parent folder is created when missing."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(file), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())

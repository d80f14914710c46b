"""Key material on disk: files only their owner may read, never overwritten."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

__all__ = ["create_private_file"]

# link() refused by a file system without hard links (FAT, some network and FUSE mounts)
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}


def create_private_file(path: str | Path, data: bytes) -> None:
    """Create `path` with mode 0600 holding `data` (on disk: fsync), refusing to replace
    anything: FileExistsError when it exists (another process may have created it just
    now; the caller decides). The parent folder is created when missing.

    The data is written to a private temporary file in the same folder and then linked to
    `path` (link fails when `path` exists), so another process never sees the file empty
    or half written: several workers generating the same key at their first request all
    end up reading the one that was linked first. Where the file system has no hard links
    the file is created in place (O_EXCL) and written.
    """
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".part")  # mode 0600
    try:
        _write(fd, data)
        try:
            os.link(partial, file)
        except OSError as exc:
            if isinstance(exc, FileExistsError) or exc.errno not in _NO_LINKS:
                raise
            _write_in_place(file, data)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    _sync_folder(file.parent)


def _write_in_place(file: Path, data: bytes) -> None:
    """Without hard links: create the file itself (O_EXCL) and write it; a reader may see
    it before it is whole. A failed write leaves nothing behind."""
    fd = os.open(str(file), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _write(fd, data)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(file)
        raise


def _write(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    """The new name on disk too (a power cut after this keeps the file)."""
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)

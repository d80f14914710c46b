import multiprocessing
import os
import stat

import pytest

from core import private_files
from core.private_files import create_private_file


def test_a_private_file_is_owner_only_and_never_replaced(tmp_path):
    path = tmp_path / "keys" / "secret.pem"  # the folder is created
    create_private_file(path, b"key material")
    assert path.read_bytes() == b"key material"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        create_private_file(path, b"another key")
    assert path.read_bytes() == b"key material"
    assert [p.name for p in path.parent.iterdir()] == ["secret.pem"]  # no temporary file left


def test_the_file_appears_only_once_written(tmp_path, monkeypatch):
    """Another process must never read the file empty or half written: while the data is
    being written and synced, nothing is at the path yet; the folder is synced after the
    name appeared (the new name survives a power cut)."""
    path = tmp_path / "secret.pem"
    seen = []
    real_fsync = os.fsync

    def watching_fsync(fd):
        is_folder = os.path.isdir(f"/proc/self/fd/{fd}")
        seen.append(("folder" if is_folder else "data", path.exists()))
        real_fsync(fd)

    monkeypatch.setattr(private_files.os, "fsync", watching_fsync)
    create_private_file(path, b"key material")
    assert seen == [("data", False), ("folder", True)]
    assert path.read_bytes() == b"key material"


def test_without_hard_links_the_file_is_created_in_place(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(private_files.os, "link", no_links)
    path = tmp_path / "secret.pem"
    create_private_file(path, b"key material")
    assert path.read_bytes() == b"key material" and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        create_private_file(path, b"another key")
    assert path.read_bytes() == b"key material" and [p.name for p in tmp_path.iterdir()] == ["secret.pem"]


def test_without_hard_links_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(private_files.os, "link", lambda src, dst: (_ for _ in ()).throw(PermissionError(1, "no")))
    real_fsync = os.fsync

    def full_disk(fd):
        if os.path.realpath(f"/proc/self/fd/{fd}").endswith("/secret.pem"):
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(private_files.os, "fsync", full_disk)
    with pytest.raises(OSError):
        create_private_file(tmp_path / "secret.pem", b"key material")
    assert list(tmp_path.iterdir()) == []  # neither a truncated key nor a temporary file


def _load_key(path, barrier, out):
    from cryptography.hazmat.primitives import serialization

    from core import signing

    barrier.wait()
    try:
        key = signing._key_at(path)
    except Exception as exc:  # reported to the test, which fails on it
        out.put(repr(exc))
    else:
        out.put(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def test_workers_generating_the_signing_key_at_once_all_read_the_same_key(tmp_path):
    """Gunicorn workers each create the development signing key at their first request."""
    ctx = multiprocessing.get_context("fork")
    for attempt in range(3):
        path = str(tmp_path / f"signing-{attempt}.pem")
        barrier, out = ctx.Barrier(6), ctx.Queue()
        workers = [ctx.Process(target=_load_key, args=(path, barrier, out)) for _ in range(6)]
        for worker in workers:
            worker.start()
        try:
            keys = [out.get(timeout=30) for _ in workers]
        finally:
            for worker in workers:
                worker.join(timeout=30)
                if worker.is_alive():
                    worker.kill()
        assert len(set(keys)) == 1, keys
        assert isinstance(keys[0], bytes) and len(keys[0]) == 32
        assert open(path, "rb").read().startswith(b"-----BEGIN PRIVATE KEY-----")

import stat

import pytest

from core.private_files import create_private_file


def test_a_private_file_is_owner_only_and_never_replaced(tmp_path):
    path = tmp_path / "keys" / "secret.pem"  # the folder is created
    create_private_file(path, b"key material")
    assert path.read_bytes() == b"key material"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        create_private_file(path, b"another key")
    assert path.read_bytes() == b"key material"

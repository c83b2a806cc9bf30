import os
import stat

import pytest

from sesli.fileio import atomic_open, atomic_path, write_json


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "a.json"
    write_json(target, {"ş": 1})
    assert target.read_text(encoding="utf-8") == '{\n  "ş": 1\n}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode & 0o044, "written files must be readable by others (umask permitting), not 0600"


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_path_temp_name_is_marked_temporary(tmp_path):
    with atomic_path(tmp_path / "x.wav") as tmp:
        assert tmp.suffix == ".tmp" and ".wav" in tmp.name  # never mistaken for a finished file
        tmp.write_bytes(b"1")
    assert (tmp_path / "x.wav").read_bytes() == b"1"

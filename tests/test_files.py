"""Writers that lose nothing: sets of files written all or none (an earlier set survives a
failed replacement), special files never replaced, errors that name the user's path."""

import errno
import os
import stat

import pytest

from opticsim import files
from opticsim.files import check_targets, write_atomic, write_files

OLD = {"set-0.png": b"old image 0", "set-0.png.json": b"old sidecar 0",
       "set-1.png": b"old image 1", "set-1.png.json": b"old sidecar 1"}


def _old_set(folder):
    for name, data in OLD.items():
        (folder / name).write_bytes(data)
    return {folder / name: b"new " + data for name, data in OLD.items()}


def _contents(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir()}


@pytest.mark.parametrize("failing", [0, 1, 3])
def test_a_full_disk_part_way_through_the_new_set_keeps_the_old_set(tmp_path, monkeypatch,
                                                                       failing):
    new = _old_set(tmp_path)
    write_temporary, calls = files._write_temporary, []

    def disk_full_at_the_nth(path, data):
        calls.append(path)
        if len(calls) > failing:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path.parent / ".x.tmp"))
        return write_temporary(path, data)

    monkeypatch.setattr(files, "_write_temporary", disk_full_at_the_nth)
    with pytest.raises(OSError, match="No space left") as raised:
        write_files(new)
    assert raised.value.filename == str(calls[-1])                 # the user's file
    assert _contents(tmp_path) == OLD                              # no temporary left


@pytest.mark.parametrize("failing", [1, 3])
def test_a_failure_while_moving_the_new_set_into_place_puts_the_old_set_back(
        tmp_path, monkeypatch, failing):
    new = _old_set(tmp_path)
    replace, calls = os.replace, []

    def fails_at_the_nth(source, target):
        calls.append(target)
        if len(calls) == failing + 1:
            raise KeyboardInterrupt                     # or any error, between two renames
        replace(source, target)

    monkeypatch.setattr(os, "replace", fails_at_the_nth)
    with pytest.raises(KeyboardInterrupt):
        write_files(new)
    monkeypatch.undo()
    assert _contents(tmp_path) == OLD


def test_a_new_set_is_written_whole_and_a_failed_one_leaves_nothing(tmp_path, monkeypatch):
    new = {tmp_path / name: data for name, data in OLD.items()}
    write_files(new)
    assert _contents(tmp_path) == OLD                              # no backup left behind
    replacement = {path: data + b"!" for path, data in new.items()}
    write_files(replacement)
    assert _contents(tmp_path) == {name: data + b"!" for name, data in OLD.items()}
    for path in new:
        path.unlink()
    replace = os.replace
    monkeypatch.setattr(os, "replace", lambda source, target: (
        replace(source, target) if target.name != "set-1.png" else 1 / 0))
    with pytest.raises(ZeroDivisionError):
        write_files(new)
    assert list(tmp_path.iterdir()) == []


def _special_files(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    special = {"a FIFO": fifo, "a folder": tmp_path / "folder"}
    special["a folder"].mkdir()
    if os.geteuid() == 0:                           # a device node needs root
        device = tmp_path / "null"
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        special["a character device"] = device
    return special


def test_a_special_file_is_refused_by_every_writer_and_stays_what_it_was(tmp_path):
    from opticsim import presets
    from opticsim.export import save_mask

    special = _special_files(tmp_path)
    for kind, path in special.items():
        mode = path.lstat().st_mode
        expected = IsADirectoryError if kind == "a folder" else FileExistsError
        for write in (lambda: write_atomic(path, b"x"),
                      lambda: write_files({tmp_path / "other": b"x", path: b"x"}),
                      lambda: check_targets([path], overwrite=True)):
            with pytest.raises(expected, match=f"is {kind}, not a regular file") as raised:
                write()
            assert raised.value.filename == str(path)
        assert path.lstat().st_mode == mode
    os.mkfifo(tmp_path / "mask.png.json")
    with pytest.raises(FileExistsError, match="is a FIFO.*mask.png.json"):
        save_mask(tmp_path / "mask.png", [[0.0]], presets.slm("pluto", shape=(4, 4)),
                  overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in special.values()] + ["mask.png.json"])


def test_a_link_to_a_regular_file_is_still_written(tmp_path):
    (tmp_path / "real.json").write_bytes(b"old")
    (tmp_path / "link.json").symlink_to("real.json")
    write_atomic(tmp_path / "link.json", b"new")
    assert (tmp_path / "link.json").read_bytes() == b"new"


def test_the_eval_output_is_checked_before_any_work(tmp_path, capsys):
    from opticsim.cli import main

    special = _special_files(tmp_path)
    for kind, path in special.items():
        assert main(["eval", str(tmp_path / "missing.pt"), "--out", str(path),
                     "--overwrite"]) == 1
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and f"{path}: exists and is {kind}" in error
    (tmp_path / "r.json").write_text("kept")
    assert main(["eval", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "r.json")]) == 1
    assert "r.json exists" in capsys.readouterr().err                # before the missing.pt
    assert (tmp_path / "r.json").read_text() == "kept"


def test_an_error_names_the_users_file_not_the_temporary_beside_it(tmp_path, monkeypatch):
    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(OSError) as raised:
        write_atomic(tmp_path / "r.json", b"{}")
    assert raised.value.errno == errno.EROFS
    assert raised.value.filename == str(tmp_path / "r.json")
    assert str(raised.value).endswith("Read-only file system: '" + str(tmp_path / "r.json") + "'")

"""Files that lose nothing: atomic writes and run folders that are never silently reused.

What is trusted in a file read back. Nothing in it runs: torch files load with
``weights_only=True`` (:func:`read_torch`), NumPy files without pickles, JSON as data; each
reader checks the kinds and ranges of the entries it uses and refuses the file by name
otherwise. Content hashes catch accidental edits and corruption, not forgery (whoever edits
a file can recompute them):

- a mask's JSON sidecar holds the sha256 of the gray levels, of the unquantised mask and of
  its own entries (``sidecar_sha256``): :func:`opticsim.export.load_mask` refuses an edited
  image, wavelength or offset;
- each row of a sweep table ends with the sha256 of its cells: an edited result is refused
  when the sweep resumes, naming the line; a sweep's ``sweep.json`` and a run's
  ``experiment.json`` must equal the settings of the run that resumes them;
- a kd checkpoint carries no hash: its weights must fit the model its settings describe and,
  on resume, its settings must equal the run's; another edit of its settings (a learning
  rate, a temperature) is taken as written. Checkpoints are binary files written by training,
  not meant to be edited by hand.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then move it into place: a reader
    sees the old file or the new one, never a partial one. The file is created with mode
    ``0o666`` and the kernel applies the user's umask, as for a plain ``open`` (``mkstemp``
    would leave ``0o600``; reading the umask would mean setting it, racing other threads).
    ``path`` must be missing or a regular file (:func:`write_files`)."""
    write_files({path: data})


def write_files(files: Mapping) -> None:
    """Write each ``{path: data}`` atomically, all of them or none: every new file is first
    written to a temporary beside its path, then the existing ones are kept as hard links
    (backups), then the temporaries are moved into place. On any failure (a full disk, a
    read-only folder, an interrupt) the files already moved are put back as they were, so
    an earlier set of files survives a failed replacement whole; the backups go once all
    are in place.

    A path that exists and is not a regular file (a device such as ``/dev/null``, a FIFO, a
    socket) is refused with ``FileExistsError`` (a folder with ``IsADirectoryError``): moving
    a file onto it would replace the device node, not write to the device. Errors name the
    user's path, never a temporary file."""
    targets = {Path(path): data for path, data in files.items()}
    for target in targets:
        _refuse_special(target)
    temporaries: dict[Path, Path] = {}
    backups: dict[Path, Path] = {}
    moved: set[Path] = set()            # kept by renaming (no hard links here): now missing
    placed: list[Path] = []
    try:
        for target, data in targets.items():
            temporaries[target] = _with_path(target, _write_temporary, target, data)
        if len(targets) > 1:            # one file: os.replace alone is all or nothing
            for target in targets:
                if os.path.lexists(target):
                    backups[target], renamed = _with_path(target, _backup, target)
                    if renamed:
                        moved.add(target)
        for target in targets:
            _with_path(target, os.replace, temporaries[target], target)
            del temporaries[target]
            placed.append(target)
    except BaseException:
        for target in placed:
            if target not in backups:
                target.unlink(missing_ok=True)
        for target, backup in backups.items():
            try:
                if target in placed or target in moved:
                    os.replace(backup, target)
                else:
                    backup.unlink()
            except OSError:             # the backup stays on disk: nothing is lost
                pass
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)
        raise
    for backup in backups.values():
        backup.unlink(missing_ok=True)


def _refuse_special(path: Path) -> None:
    """``FileExistsError`` (``IsADirectoryError`` for a folder) naming ``path`` when it exists
    and is not a regular file (a link to a regular file counts as one)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:                     # missing, or the write itself will say why
        return
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        error = IsADirectoryError if stat.S_ISDIR(mode) else FileExistsError
        raise error(errno.EISDIR if stat.S_ISDIR(mode) else errno.EEXIST,
                    f"exists and is {kind}, not a regular file; refusing to replace it",
                    str(path))


def _with_path(path: Path, action, *args):
    """``action(*args)``; an ``OSError`` is raised again naming ``path`` (the user's file)
    rather than the temporary or backup file beside it."""
    try:
        return action(*args)
    except OSError as error:
        if error.strerror is None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from None


def _hidden_name(path: Path, kind: str) -> Path:
    return path.parent / f".{path.name}.{secrets.token_hex(6)}.{kind}"


def _write_temporary(path: Path, data: bytes) -> Path:
    """A new temporary file beside ``path`` holding ``data``; nothing is left on failure."""
    while True:
        temporary = _hidden_name(path, "tmp")
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:             # another writer drew the same name: draw again
            continue
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _backup(path: Path) -> tuple[Path, bool]:
    """A backup of the existing ``path`` beside it: a hard link (``path`` stays in place),
    or where the file system has none, ``path`` renamed (True: ``path`` is now missing)."""
    backup = _hidden_name(path, "bak")
    try:
        os.link(path, backup, follow_symlinks=False)
        return backup, False
    except OSError:                         # no hard links on this file system
        os.replace(path, backup)
        return backup, True


def check_targets(paths, overwrite: bool = False) -> None:
    """Refuse, before any work, files that a writer could not write: an existing one unless
    ``overwrite`` (``FileExistsError``), one that is not a regular file even with it, and one
    whose folder does not exist (``FileNotFoundError``)."""
    for path in map(Path, paths):
        _refuse_special(path)
        if os.path.lexists(path) and not overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite (overwrite=True) to "
                                  "replace it")
        if not path.parent.is_dir():
            raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not "
                                    "exist")


def check_folder(folder, overwrite: bool = False) -> Path:
    """Refuse (``FileExistsError``) a run ``folder`` that :func:`prepare_folder` would refuse,
    creating nothing: work that may fail can run between the two."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"run folder {folder} is not empty; pass --overwrite to replace "
                              "its files or choose another --out")
    return folder


def prepare_folder(folder, overwrite: bool = False) -> Path:
    """Create the run ``folder``; refuse (``FileExistsError``) an existing non-empty one unless
    ``overwrite``, and a path that is a file."""
    folder = check_folder(folder, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def error_summary(error: BaseException) -> str:
    """``"Type: first line of the message"`` (at most 120 characters of it), for one-line
    errors that name what a reader raised."""
    reason = (str(error).strip().splitlines() or [""])[0][:120]
    return f"{type(error).__name__}: {reason}"


def read_torch(path, what: str = "checkpoint"):
    """What ``torch.save`` wrote to ``path``, loaded on the CPU with ``weights_only=True``
    (tensors, numbers, strings and containers of them; no code runs). ``FileNotFoundError``
    when it is missing, ``IsADirectoryError`` for a folder; ``ValueError`` naming the file as
    ``what`` when it is not readable (truncated, corrupt, another kind of file)."""
    import torch

    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"is a folder, not a {what} file", str(path))
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:                  # pickle, zip and torch all raise their own
        raise ValueError(f"{what} {path} is not a readable opticsim {what} "
                         f"({error_summary(error)})") from None


def read_json(path, what: str = "file") -> dict:
    """The JSON object in ``path`` (a run folder's settings); ``FileNotFoundError`` when it is
    missing, ``ValueError`` naming the file as ``what`` when it is unreadable or not an
    object."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:      # UnicodeDecodeError and JSONDecodeError too
        raise ValueError(f"{what} {path} is not readable ({error_summary(error)})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} {path} is not readable (a JSON {type(value).__name__}, "
                         "not an object)")
    return value


_ABSENT = object()          # a key one side lacks


def differences(saved: dict, wanted: dict, ignore=()) -> list[str]:
    """The settings in which ``saved`` (those a run folder or checkpoint was made with) and
    ``wanted`` differ, sorted, each as ``"key: saved there, wanted now"``; nested objects by
    dotted keys, a key one side lacks as ``absent``, keys in ``ignore`` left out."""
    lines = []
    for key in sorted((set(saved) | set(wanted)) - set(ignore)):
        old, new = saved.get(key, _ABSENT), wanted.get(key, _ABSENT)
        if isinstance(old, dict) and isinstance(new, dict):
            lines += [f"{key}.{line}" for line in differences(old, new)]
        elif old != new:
            lines.append(f"{key}: {_shown(old)} there, {_shown(new)} now")
    return lines


def _shown(value, limit: int = 40) -> str:
    if value is _ABSENT:
        return "absent"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"

"""Files that lose nothing: atomic writes and run folders that are never silently reused."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then move it into place: a reader
    sees the old file or the new one, never a partial one. The file is created with mode
    ``0o666`` and the kernel applies the user's umask, as for a plain ``open`` (``mkstemp``
    would leave ``0o600``; reading the umask would mean setting it, racing other threads)."""
    path = Path(path)
    while True:
        temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:             # another writer drew the same name: draw again
            continue
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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
    when it is missing; ``ValueError`` naming the file as ``what`` when it is not readable
    (truncated, corrupt, another kind of file)."""
    import torch

    path = Path(path)
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

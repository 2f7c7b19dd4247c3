"""Saving files and folders so that a crash never leaves a half-written one under the real name.

Everything recchat saves (scorer checkpoints, blend files, configurations written by ``recchat
init``, run records, result files and folders) goes through this module:

- :func:`write_atomic` writes to a temporary file in the target's folder, flushes and fsyncs it,
  then renames it over the target in one step (``os.replace``). A reader, or the next run after a
  ``kill -9`` or a power cut, sees the old file or the new one, never a mix. If writing fails the
  temporary file is removed and the old file is untouched; one left behind by a killed process
  is removed by the next write of the same file.
- :func:`replacing_folder` does the same for a folder (a merged model, a LoRA adapter): it is
  written under a temporary name and moved into place when complete. Two renames are needed
  when an older folder is replaced; a kill between them leaves the older folder under a
  ``.old`` name, which :func:`settle_folder` (called by the next replacement, and by readers that
  care) puts back. :func:`new_folder` is the same for a folder that must not exist yet (an
  evaluation's run folder).

Append-only files (the batch output, the prompt log) are not written here: they are made safe
by flushing whole lines and repairing a cut-off last line on the next run (recchat.batch).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

Data = str | bytes | Callable[[BinaryIO], object]


def _tmp_name(path: Path) -> Path:
    # The writer's pid in the name lets a later write tell a dead writer's leftover from a file
    # another process is writing right now.
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _alive(pid: int) -> bool:
    if os.name == "nt":
        return True  # os.kill(pid, 0) would send Ctrl-C there; leftovers are kept instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process, or a platform without signals: assume it is writing
    return True


def _remove_leftovers(path: Path) -> None:
    """Delete temporary files of ``path`` whose writer no longer runs (killed mid-write)."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[0-9a-f]{{8}}\.tmp")
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        match = pattern.fullmatch(tmp.name)
        if match and not _alive(int(match[1])):
            tmp.unlink(missing_ok=True)


def _sync(path: Path) -> None:
    """fsync a file, or a folder so that a rename in it lasts (POSIX; a no-op where a folder
    cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path | str, data: Data, *, encoding: str = "utf-8") -> Path:
    """Replace ``path`` with ``data`` in one step: text, bytes, or a function that writes to a
    binary file object (e.g. ``lambda f: torch.save(payload, f)``). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "xb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data.encode(encoding) if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync(path.parent)
    return path


def _old_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def settle_folder(target: Path | str) -> Path:
    """Finish a folder replacement a crash interrupted: if ``target`` is missing but its older
    version was moved aside, put it back; otherwise drop the older version. Returns ``target``."""
    target = Path(target)
    old = _old_name(target)
    if old.exists():
        if target.exists():
            shutil.rmtree(old)
        else:
            os.replace(old, target)
    return target


@contextmanager
def replacing_folder(target: Path | str) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; when the block ends without an error it
    becomes ``target`` (an existing one is replaced), else it is deleted and ``target`` is left as
    it was::

        with replacing_folder(out / "adapter") as tmp:
            model.save_pretrained(tmp)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    settle_folder(target)
    tmp = target.with_name(f".{target.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)  # a killed writer's leftover: one writer per folder at a time
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for path in (*tmp.rglob("*"), tmp):  # what was written reaches the disk before the renames
        _sync(path)
    old = _old_name(target)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    _sync(target.parent)
    if old.exists():
        shutil.rmtree(old)


@contextmanager
def new_folder(folder: Path | str) -> Iterator[Path]:
    """:func:`replacing_folder` for a folder that must not exist yet (a run folder): an existing
    one is an error and is left alone."""
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"{folder} exists already; nothing was written to it")
    with replacing_folder(folder) as tmp:
        yield tmp

"""Forgetting a user (:func:`forget_user`; ``recchat forget-user USER``): removing the per-user
records under $RECCHAT_HOME, then searching it for anything left (see the function), and the
per-user file names those records are kept under.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from recchat.files import write_atomic


def user_file_name(user: str) -> str:
    """A per-user file's name: the id with anything but letters, digits, '-', '_' and '.'
    replaced (profiles and saved sessions use it)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in user) + ".json"


USER_KEYS = ("user", "user_id", "log_user")  # the fields that say whose record a JSON object is
MAX_SCAN_BYTES = 50 * 1024 * 1024
SKIPPED_FOLDERS = ("assets",)  # fetched data sets: the users' input data, not recchat's records


@dataclass
class ForgetReport:
    """What :func:`forget_user` removed, and what still mentions the user."""

    user: str
    home: Path
    removed_files: list[Path] = field(default_factory=list)
    removed_lines: dict[Path, int] = field(default_factory=dict)  # a JSONL file -> records removed
    remaining: list[Path] = field(default_factory=list)  # files that still mention the user
    scanned: int = 0
    skipped: int = 0  # binary or very large files

    @property
    def removed(self) -> int:
        return len(self.removed_files) + sum(self.removed_lines.values())

    def summary(self) -> str:
        lines = [f"forgot user '{self.user}' under {self.home}:"]
        lines += [f"  removed {p}" for p in self.removed_files]
        lines += [f"  removed {n} record(s) from {p}" for p, n in self.removed_lines.items()]
        if not self.removed:
            lines.append("  nothing of this user was stored")
        lines.append(
            f"  searched {self.scanned} text file(s) ({self.skipped} binary or large file(s) skipped, "
            f"and {', '.join(f'{f}/' for f in SKIPPED_FOLDERS)}: fetched data sets)"
        )
        if self.remaining:
            lines.append("  still mentioned in (not recchat's per-user records; remove or edit them yourself):")
            lines += [f"    {p}" for p in self.remaining]
        else:
            lines.append("  no file there mentions the user any more")
        lines.append("  not touched: the interaction log (your input data) and anything outside this folder")
        return "\n".join(lines)


def mention_pattern(user: str) -> re.Pattern[str]:
    """How a file is found to mention ``user``: the id as the value of a user field in JSON
    (``"user": "196"``, ``"user_id": 196``); and, for a distinctive id (at least 4 characters,
    not all digits), the id anywhere as a whole token (not inside a longer word, number or
    hyphenated name). A short or numeric id such as "1" or "196" is an ordinary number in ratings,
    years and item ids, so only the JSON fields count for it."""
    uid = re.escape(user)
    keys = "|".join(USER_KEYS)
    structured = rf'"(?:{keys})"\s*:\s*(?:"{uid}"|{uid}(?=[\s,}}\]]))'
    if len(user) >= 4 and not user.isdigit():
        return re.compile(rf"{structured}|(?<![\w-]){uid}(?![\w-])")
    return re.compile(structured)


def _text_of(path: Path) -> str | None:
    """A file's text, or None for a binary (a NUL byte in its first 8 KiB) or very large one."""
    try:
        if path.stat().st_size > MAX_SCAN_BYTES:
            return None
        with path.open("rb") as f:
            head = f.read(8192)
            if b"\x00" in head:
                return None
            data = head + f.read()
    except OSError:
        return None
    return data.decode("utf-8", errors="replace")


def _owned_by(record: object, user: str) -> bool:
    return isinstance(record, dict) and any(str(record.get(k)) == user for k in USER_KEYS if k in record)


def _files(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for root, dirs, files in os.walk(folder):
        if Path(root) == folder:
            dirs[:] = [d for d in dirs if d not in SKIPPED_FOLDERS]
        for name in files:
            yield Path(root) / name


def forget_user(user: str, *, home: Path | None = None, profile_folders: Iterable[Path] = ()) -> ForgetReport:
    """Remove ``user``'s per-user records under ``home`` ($RECCHAT_HOME) and in
    ``profile_folders`` (a configuration's profile folder, which may lie elsewhere, and the
    "-heldout" one eval-chat keeps beside it), then search ``home`` for what is left.

    Removed: every ``*.json`` file whose top-level ``user``, ``user_id`` or ``log_user`` is the id
    (cached profiles of every configuration, eval-chat's held-out ones, saved sessions), and every
    line of a ``*.jsonl`` file whose record has such a field (the prompt log; an eval-chat
    ``conversations.jsonl`` kept there), each file rewritten atomically (removed when empty).
    A user id is taken to name the same person in every configuration. Then every text file under
    ``home`` is searched with :func:`mention_pattern` and the ones that still match are listed.
    ``assets/`` (fetched data sets, such as MovieLens with its own users) is input data and is
    neither changed nor searched; nor is the interaction log, which lives wherever its
    configuration says.
    """
    from recchat.assets import home as default_home

    root = Path(home) if home is not None else default_home()
    report = ForgetReport(user, root)
    pattern = mention_pattern(user)
    folders = [root] + [f for p in profile_folders for f in (Path(p), Path(p).with_name(f"{Path(p).name}-heldout"))]
    seen: set[Path] = set()
    for folder in folders:
        for path in _files(Path(folder)):
            if path in seen:
                continue
            seen.add(path)
            text = _text_of(path)
            if text is None or not pattern.search(text):
                continue
            if path.suffix == ".json":
                try:
                    record = json.loads(text)
                except ValueError:
                    record = None
                if _owned_by(record, user):
                    path.unlink()
                    report.removed_files.append(path)
            elif path.suffix == ".jsonl":
                kept, dropped = [], 0
                for line in text.splitlines(keepends=True):
                    try:
                        record = json.loads(line)
                    except ValueError:
                        record = None
                    if _owned_by(record, user):
                        dropped += 1
                    else:
                        kept.append(line)
                if dropped:
                    report.removed_lines[path] = dropped
                    if any(line.strip() for line in kept):
                        write_atomic(path, "".join(kept))
                    else:
                        path.unlink()
    for path in _files(root):
        text = _text_of(path)
        if text is None:
            report.skipped += 1
            continue
        report.scanned += 1
        if pattern.search(text):
            report.remaining.append(path)
    return report

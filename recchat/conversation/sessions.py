"""Saved conversations: one JSON file per user, enough to resume a chat session.

    store = SessionStore.for_config("movielens-100k")      # $RECCHAT_HOME/sessions/movielens-100k
    store.save("alice", session)                          # after a turn
    session = store.resume("alice", recommender)          # later: the same state, a new session
    store.delete("alice")

A saved session holds the transcript (user text masked, as the session keeps it; masked again
here, the boundary), the session's state (history, likes, constraints, what was shown and
rejected), the log user it acts as and its list length; never the ranked candidates or the LLM's
raw output. Files are written atomically (a temporary file in the same folder, then a rename),
so a crash leaves the previous save. ``recchat forget-user`` removes them (their ``user`` field
names the user).
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from recchat.files import write_atomic
from recchat.privacy import TitleExemptions, masked, user_file_name

if TYPE_CHECKING:
    from typing import Unpack

    from recchat.conversation.chat import ChatSession, SessionOptions
    from recchat.conversation.session_state import SessionState

FORMAT = 1


def state_to_dict(state: SessionState, exempt: TitleExemptions | None = None) -> dict[str, object]:
    """A SessionState as JSON values (sets as sorted lists), the free text masked (``exempt``: the catalog's titles)."""
    out = asdict(state)
    for name, value in out.items():
        if isinstance(value, set):
            out[name] = sorted(value)
    out["wishes"] = [masked(w, exempt) for w in out["wishes"]]
    return out


def state_from_dict(data: dict[str, Any]) -> SessionState:
    """The SessionState a saved dict describes (unknown keys are ignored: an older or newer file);
    ``data`` is JSON as read, checked by the dataclass."""
    from recchat.conversation.session_state import SessionState

    known = {f.name: f for f in fields(SessionState)}
    values = {k: v for k, v in data.items() if k in known}
    for name in ("rejected", "named"):
        if name in values:
            values[name] = set(values[name])
    return SessionState(**values)


class SessionRecommender(Protocol):
    """What :meth:`SessionStore.resume` needs of a recommender: a new chat session."""

    def chat(self, user_id: str | None = None, k: int = 10, **options: Unpack[SessionOptions]) -> ChatSession: ...


class SessionStore:
    """Saved chat sessions of one configuration, one file per user id."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    @classmethod
    def for_config(cls, name: str) -> SessionStore:
        """The default store of a configuration: $RECCHAT_HOME/sessions/<name>."""
        from recchat.assets import home

        return cls(home() / "sessions" / name)

    def path(self, user_id: str) -> Path:
        return self.folder / user_file_name(user_id)

    def save(self, user_id: str, session: ChatSession) -> Path:
        """Write ``session`` (a ChatSession) as ``user_id``'s saved conversation, replacing any."""
        record = {
            "format": FORMAT,
            "user": user_id,
            "log_user": session.user_id,
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
            "k": session.k,
            "state": state_to_dict(session.state, session.rec.pii_exemptions),
            "transcript": [
                {"role": t["role"], "text": masked(t["text"], session.rec.pii_exemptions)} for t in session.transcript
            ],
        }
        path = self.path(user_id)
        write_atomic(path, json.dumps(record, ensure_ascii=False, indent=1))
        return path

    def load(self, user_id: str) -> dict[str, Any] | None:
        """The saved record, or None when there is none. A damaged file is an error naming it."""
        path = self.path(user_id)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{path}: not a saved session ({exc}); delete it to start afresh") from None
        if not isinstance(record, dict) or record.get("user") != user_id:
            raise ValueError(f"{path}: not {user_id}'s saved session; delete it to start afresh")
        return record

    def resume(
        self, user_id: str, recommender: SessionRecommender, **options: Unpack[SessionOptions]
    ) -> ChatSession | None:
        """A new ChatSession with the saved state and transcript, or None when nothing is saved.
        ``options`` go to ``recommender.chat`` (reranker, blend...)."""
        record = self.load(user_id)
        if record is None:
            return None
        session = recommender.chat(user_id=record.get("log_user"), k=record.get("k", 10), **options)
        session.state = state_from_dict(record.get("state", {}))
        session.transcript = list(record.get("transcript", []))
        return session

    def delete(self, user_id: str) -> bool:
        """Remove ``user_id``'s saved conversation; whether there was one."""
        path = self.path(user_id)
        existed = path.is_file()
        path.unlink(missing_ok=True)
        return existed

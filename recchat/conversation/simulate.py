"""Evaluation with simulated users (``recchat eval-chat``).

Protocol. Users are sampled (fixed seed) from the leave-one-out test split; each one's target is
their held-out last item, and the system only ever sees the history before it (the scorer was
trained without it, and profiles are built from the held-out log). The simulated user knows the
target's values of the domain's primary facet (genres, subjects), its year (when the catalog has
a year field) and three items they rated highly, and never says the target's title:

- turn 1: "I liked A, B and C. I'm in the mood for something <first value>."
- later turns critique the list toward the target: the era ("something older, from the 1970s"
  when the list is newer than the target's decade), then the target's other values ("more
  thriller, please"), then "not that one" on the top item.

A conversation ends when the target is in the top 10 (success) or after 5 turns. Reported per
system: success within 5 turns, mean turns to success (over successes), and Recall@10 at each
turn (the share of users whose target has been in a top 10 by that turn). Systems:

- ``text``: Chroma text retrieval alone, the query being everything the user said so far;
- ``pipeline-no-llm``: the chat session with rules, the scorer and Chroma, no LLM;
- ``pipeline``: the full chat session (LLM understanding merged with rules, LLM rerank, blend).

Messages are templated, so runs are deterministic. ``paraphrase=True`` has the LLM reword each
message (a paraphrase that names the target is discarded for the template).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict

import numpy as np

from recchat.conversation.aliases import normalize_title
from recchat.conversation.domain import Domain, field_values
from recchat.conversation.protocols import ChatRecommender
from recchat.data.catalog import Catalog
from recchat.data.split import Split
from recchat.files import new_folder
from recchat.rerank import NO_LLM
from recchat.types import Interaction, Item

if TYPE_CHECKING:
    from typing import Unpack

    from recchat.conversation.chat import ChatSession, SessionOptions
    from recchat.index import ItemIndex
    from recchat.llm.base import LLMBackend

TURNS, TOP = 5, 10
SYSTEMS = ("text", "pipeline-no-llm", "pipeline")


class SimulationRecommender(ChatRecommender, Protocol):
    """What the simulation drives: a chat recommender that opens sessions, with its text index (the
    "text" system) and its LLM backend."""

    @property
    def index(self) -> ItemIndex: ...

    @property
    def backend(self) -> LLMBackend | None: ...

    def chat(self, user_id: str | None = None, k: int = 10, **options: Unpack[SessionOptions]) -> ChatSession: ...


class Turn(TypedDict):
    turn: int
    user: str
    shown: list[str]


class Conversation(TypedDict):
    """One simulated conversation, as conversations.jsonl holds it."""

    system: str
    user: str
    target: str
    found_at: int | None
    turns: list[Turn]
    seconds: list[float]
    llm_turns: int
    degraded_turns: list[int]
    errors: list[str]


# One system's figures, as results.json holds them.
Row = TypedDict(
    "Row",
    {
        "system": str,
        "users": int,
        "success@5": float,
        "mean_turns_to_success": float | None,
        "recall@10_by_turn": list[float],
        "turn_seconds_p50": float | None,
        "llm_turns": int,
        "degraded_turns": int,
        "first_error": str | None,
        "llm_unreliable": bool,
    },
)


@dataclass
class SimulatedUser:
    user: str
    target: Item
    history: list[str]  # item ids before the target, oldest first
    ratings: list[float | None]
    known: list[str]  # three well-rated items the user mentions
    facet: str | None = None  # the domain's primary facet: what the user asks for
    year: str | None = None  # the domain's year field: the era the user steers to
    stated: set[str] = field(default_factory=set)

    @property
    def values(self) -> list[str]:
        return field_values(self.target.fields.get(self.facet)) if self.facet else []

    @property
    def decade(self) -> int | None:
        year = self.target.fields.get(self.year) if self.year else None
        return year // 10 * 10 if isinstance(year, int) else None

    def opening(self, catalog: Catalog, kind: str) -> str:
        titles = [catalog[i].title for i in self.known]
        liked = ", ".join(titles[:-1]) + f" and {titles[-1]}" if len(titles) > 1 else titles[0]
        wish = f"I'm in the mood for something {self.values[0].lower()}." if self.values else f"Any {kind} tonight?"
        self.stated = {self.values[0]} if self.values else set()
        return f"I liked {liked}. {wish}"

    def critique(self, shown: Sequence[Item]) -> str:
        """One step toward the target's attributes, judged against the list just shown."""
        years = [y for i in shown if self.year and isinstance(y := i.fields.get(self.year), int)]
        if self.decade is not None and "era" not in self.stated:
            self.stated.add("era")
            median = float(np.median(years)) if years else self.decade + 5
            if median > self.decade + 9:
                return f"Something older, from the {self.decade}s."
            if median < self.decade:
                return f"Something newer, from the {self.decade}s."
            return f"The {self.decade}s are right, more from the {self.decade}s."
        for value in self.values:
            if value not in self.stated:
                self.stated.add(value)
                return f"More {value.lower()}, please."
        return "Not that one, something else."


def held_out_log(split: Split) -> list[Interaction]:
    """Every user's events before their test target (order kept as the timestamp)."""
    log = []
    for u, user in enumerate(split.users):
        items = split.history(u, "test")
        ratings = split.history_ratings(u, "test")
        log += [
            Interaction(user, split.item_ids[i], None if np.isnan(r) else float(r), float(n))
            for n, (i, r) in enumerate(zip(items, ratings))
        ]
    return log


def sample_users(split: Split, catalog: Catalog, n: int, seed: int = 0, *, domain: Domain) -> list[SimulatedUser]:
    """``n`` users of the test split in a seeded order, each with three well-rated known items and
    a target that has values of the domain's primary facet (when it has one) to ask for."""
    facet = domain.primary.name if domain.primary else None
    rng = random.Random(seed)
    order = list(range(len(split.users)))
    rng.shuffle(order)
    out = []
    for u in order:
        if split.test[u] < 0:
            continue
        target = catalog[split.item_ids[split.test[u]]]
        history = [split.item_ids[i] for i in split.history(u, "test")]
        ratings = [None if np.isnan(r) else float(r) for r in split.history_ratings(u, "test")]
        good = [
            i
            for i, r in sorted(
                zip(history, ratings),
                key=lambda p: -(p[1] or 0),
            )
            if (r is None or r >= 4) and catalog[i].title and catalog[i].title != target.title
        ]
        if len(good) < 3 or (facet and not target.fields.get(facet)):
            continue
        out.append(SimulatedUser(split.users[u], target, history, ratings, good[:3], facet, domain.year))
        if len(out) == n:
            break
    return out


def _paraphrase(backend: LLMBackend, text: str, target: Item, kind: str = "item") -> str:
    prompt = (
        f"Rewrite this message to a {kind} recommender in your own casual words. Keep every title, "
        f"genre and year. Reply with the message only.\n<message>{text}</message>"
    )
    try:
        out = " ".join(backend.generate([prompt], max_tokens=60)[0].split())
    except Exception:
        return text
    if not out or normalize_title(target.title) in normalize_title(out):
        return text
    return out


def converse(
    system: str, sim: SimulatedUser, rec: SimulationRecommender, *, paraphrase: LLMBackend | None = None
) -> Conversation:
    """One simulated conversation; the turn at which the target appeared (or None) and the transcript."""
    kind = rec.domain.item
    session = None
    if system != "text":
        session = rec.chat(
            reranker=NO_LLM if system == "pipeline-no-llm" else rec.reranker,
            understand_with_llm=None if system == "pipeline" else False,
            explain_with_llm=False,
        )
        session.state.history, session.state.ratings = list(sim.history), list(sim.ratings)
        session.user_id = sim.user
        session.profile = rec.profile(sim.user) if system == "pipeline" else None
    said: list[str] = []
    transcript: list[Turn] = []
    found: int | None = None
    shown: list[Item] = []
    seconds: list[float] = []
    degraded: list[str | None] = []
    for turn in range(1, TURNS + 1):
        text = sim.opening(rec.catalog, kind) if turn == 1 else sim.critique(shown)
        if paraphrase is not None:
            text = _paraphrase(paraphrase, text, sim.target, kind)
        said.append(text)
        started = time.perf_counter()
        if session is None:
            banned = set(sim.history)
            hits = rec.index.query(" ".join(said), k=TOP + len(banned))
            ids = [c.item.id for c in hits if c.item.id not in banned][:TOP]
        else:
            reply = session.send(text, explain=False)
            ids = [i.item.id for i in reply.items][:TOP]
            if session.reranker.backend is not None:
                degraded.append(
                    reply.ranking.notes[0]
                    if reply.degraded and reply.ranking.notes
                    else "degraded"
                    if reply.degraded
                    else None
                )
        seconds.append(time.perf_counter() - started)
        shown = [rec.catalog[i] for i in ids]
        transcript.append({"turn": turn, "user": text, "shown": [rec.catalog[i].title for i in ids]})
        if sim.target.id in ids:
            found = turn
            break
    return {
        "system": system,
        "user": sim.user,
        "target": sim.target.title,
        "found_at": found,
        "turns": transcript,
        "seconds": seconds,
        "llm_turns": len(degraded),
        "degraded_turns": [n for n, d in enumerate(degraded, 1) if d],
        "errors": [d for d in degraded if d],
    }


def summarize(conversations: list[Conversation], systems: Sequence[str]) -> list[Row]:
    rows: list[Row] = []
    for system in systems:
        runs = [c for c in conversations if c["system"] == system]
        found = [c["found_at"] for c in runs if c["found_at"] is not None]
        n = len(runs)
        seconds = [s for c in runs for s in c["seconds"]]
        llm_turns = sum(c.get("llm_turns", 0) for c in runs)
        bad = sum(len(c.get("degraded_turns", [])) for c in runs)
        first = next((e for c in runs for e in c.get("errors", [])), None)
        rows.append(
            {
                "system": system,
                "users": n,
                "success@5": len(found) / n if n else 0.0,
                "mean_turns_to_success": float(np.mean(found)) if found else None,
                "recall@10_by_turn": [sum(f <= t for f in found) / n if n else 0.0 for t in range(1, TURNS + 1)],
                "turn_seconds_p50": float(np.median(seconds)) if seconds else None,
                "llm_turns": llm_turns,
                "degraded_turns": bad,
                "first_error": first,
                "llm_unreliable": bool(llm_turns) and 2 * bad > llm_turns,
            }
        )
    return rows


def markdown(rows: list[Row]) -> str:
    head = (
        "| system | users | success within 5 | mean turns to success | "
        + " | ".join(f"R@10 t{t}" for t in range(1, TURNS + 1))
        + " | turn p50 (s) |"
    )
    lines = [head, "|" + "---|" * (5 + TURNS)]
    for r in rows:
        turns = "n/a" if r["mean_turns_to_success"] is None else f"{r['mean_turns_to_success']:.2f}"
        p50 = "n/a" if r["turn_seconds_p50"] is None else f"{r['turn_seconds_p50']:.2f}"
        name = r["system"]
        if r.get("llm_unreliable"):
            name += f" [LLM failed on {r['degraded_turns']} of {r['llm_turns']} turns: the scorer's figures]"
        elif r.get("degraded_turns"):
            name += f" (LLM failed on {r['degraded_turns']} of {r['llm_turns']} turns)"
        lines.append(
            f"| {name} | {r['users']} | {r['success@5']:.3f} | {turns} | "
            + " | ".join(f"{v:.3f}" for v in r["recall@10_by_turn"])
            + f" | {p50} |"
        )
    return "\n".join(lines)


def chart(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in rows:
        ax.plot(range(1, TURNS + 1), r["recall@10_by_turn"], marker="o", label=r["system"])
    ax.set_xlabel("turn")
    ax.set_ylabel("Recall@10 (target shown by this turn)")
    ax.set_xticks(range(1, TURNS + 1))
    ax.set_title(f"Simulated users ({rows[0]['users'] if rows else 0})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(
    rec: SimulationRecommender,
    split: Split,
    *,
    users: int = 100,
    seed: int = 0,
    systems: Sequence[str] = SYSTEMS,
    out: Path | str = "runs",
    paraphrase: bool = False,
    progress: bool = True,
    config: Mapping[str, object] | None = None,
) -> tuple[Path, list[Row]]:
    """Simulate, write results.json / results.md / chart.png / conversations.jsonl, return the folder."""
    from tqdm import tqdm

    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown system(s) {', '.join(sorted(unknown))}; choose from {', '.join(SYSTEMS)}")
    if "pipeline" in systems and rec.backend is None:
        raise ValueError("the 'pipeline' system needs an LLM backend; use --backend or drop it from --systems")
    sims = sample_users(split, rec.catalog, users, seed, domain=rec.domain)
    conversations = []
    bar = tqdm(total=len(sims) * len(systems), desc="simulated conversations", unit="conv", disable=not progress)
    for sim in sims:
        for system in systems:
            conversations.append(converse(system, sim, rec, paraphrase=rec.backend if paraphrase else None))
            bar.update()
    bar.close()
    rows = summarize(conversations, systems)
    folder = Path(out) / f"eval-chat-{time.strftime('%Y%m%d-%H%M%S')}-s{seed}-n{len(sims)}"
    meta = {**(config or {}), "users": len(sims), "seed": seed, "systems": list(systems), "paraphrase": paraphrase}
    with new_folder(folder) as tmp:  # complete, or not there at all if the run is killed
        (tmp / "results.json").write_text(json.dumps({"config": meta, "results": rows}, indent=2, default=str))
        (tmp / "results.md").write_text(
            f"# Simulated-user evaluation\n\n{__doc__.split('Protocol. ', 1)[1].split('Messages are')[0].strip()}\n\n"
            f"{markdown(rows)}\n\n```json\n{json.dumps(meta, indent=2, default=str)}\n```\n"
        )
        with (tmp / "conversations.jsonl").open("w") as f:
            for c in conversations:
                f.write(json.dumps(c) + "\n")
        chart(rows, tmp / "chart.png")
    return folder, rows

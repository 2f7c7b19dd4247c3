"""Chat sessions: state across turns, critiques, and grounded reasons.

    session = Recommender.from_config().chat()
    reply = session.send("I loved Heat, something like it but older")
    reply.message, [(i.item.title, i.reason) for i in reply.items]
    reply = session.feedback(reply.items[2].item.id, liked=False)   # replaced in place

A session remembers the known history (a user of the log, or none) and that user's profile, the
items liked and disliked in the chat, the constraints (per facet of the catalog's
:class:`~recchat.conversation.domain.Domain` the values wanted and not, a year range, bounds on range fields,
series kept out, the user's wishes in their own words), and what was shown and rejected. Items
the user rejected, has seen, or kept out with their series never come back; positions in the
last list ("not the first one", "the third one looks good") are resolved against it.

A turn: understand the message (rules, merged with the LLM's structured extraction when it is
usable), update the state, retrieve under the constraints (Chroma text query from the wishes and
the profile, scorer candidates from the history and the liked items), rerank with the LLM (the
conversation, history and profile in the prompt) and blend, then explain: template reasons at
once, LLM reasons after (``send(explain=True)`` waits for them; a UI calls ``send(...,
explain=False)`` and streams ``explain(reply)``). ``Reply.timings`` has seconds per stage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, TypedDict

from recchat.conversation.card_facts import ExplainContext
from recchat.conversation.constraints import Understanding
from recchat.conversation.link import Linker
from recchat.conversation.llm_extraction import extract_with_llm, merge
from recchat.conversation.llm_reasons import llm_reasons
from recchat.conversation.reply import Reply, ReplyItem, count_noun, reply_message
from recchat.conversation.session_state import SessionState
from recchat.conversation.template_reasons import template_reasons
from recchat.conversation.understand import understand
from recchat.privacy import acting_for, mask_pii, steps_acting_for
from recchat.types import Ranking

if TYPE_CHECKING:
    from recchat.blend import BlendConfig
    from recchat.conversation.profile import Profile
    from recchat.conversation.protocols import ChatRecommender
    from recchat.llm.base import LLMBackend
    from recchat.rerank import ItemReranker

# A message is read up to here: a 1 MB paste is cut (and the reply says so), not processed for minutes.
MAX_MESSAGE_CHARS = 2000


class SessionOptions(TypedDict, total=False):
    """The keyword options of a :class:`ChatSession` (what a recommender's ``chat`` passes on)."""

    reranker: ItemReranker | None
    blend: BlendConfig | None
    understand_with_llm: bool | None
    explain_with_llm: bool
    explain_top: int


class ChatSession:
    """One conversation with a :class:`~recchat.recommender.Recommender`.

    ``reranker`` and ``blend`` override the recommender's for this session (``reranker=NO_LLM``
    from recchat.rerank: the scorer alone). ``understand_with_llm`` and ``explain_with_llm`` switch the LLM's part in
    reading messages and writing reasons; both fall back to rules and templates on failure. By
    default (None) the LLM reads messages only where its decoding is schema-constrained (vLLM, a
    vLLM server): SmolLM2 on transformers wrote no usable JSON in our runs. The LLM writes the
    reasons of the top ``explain_top`` items (3); the others keep their template reasons.
    """

    def __init__(
        self,
        recommender: ChatRecommender,
        user_id: str | None = None,
        k: int = 10,
        *,
        reranker: ItemReranker | None = None,
        blend: BlendConfig | None = None,
        understand_with_llm: bool | None = None,
        explain_with_llm: bool = True,
        explain_top: int = 3,
    ):
        self.rec, self.k = recommender, k
        self.reranker = reranker or recommender.reranker
        self.blend = blend
        self.understand_with_llm, self.explain_with_llm = understand_with_llm, explain_with_llm
        self.explain_top = explain_top
        self.state = SessionState()
        self.user_id = user_id
        self.profile: Profile | None = None
        if user_id is not None:
            self.state.history, self.state.ratings = recommender.history_of(user_id)
            self.profile = recommender.profile(user_id)
        self.domain = recommender.domain
        linker: Linker | None = getattr(recommender, "linker", None)
        self.resolver = linker if linker is not None else Linker(recommender.catalog, year_field=self.domain.year)
        self.turns: list[Reply] = []
        self.transcript: list[dict[str, str]] = []  # {"role": "user" | "assistant", "text"}; user text masked
        self.stats = {"turns": 0, "llm_understanding_unusable": 0, "llm_reasons": 0, "template_reasons": 0}

    @property
    def backend(self) -> LLMBackend | None:
        return getattr(self.reranker, "backend", None)

    def _update(self, u: Understanding) -> None:
        """Fold one message into the state (:meth:`SessionState.fold`). Liked positions ("the
        third one looks good") join ``u.liked`` there, so the reply names them and later turns use
        them as history."""
        self.state.fold(u, self.domain, self.rec.catalog)

    # -- a turn -------------------------------------------------------------------------

    def understand(self, text: str) -> Understanding:
        """Rules, plus the LLM's structured extraction when it is on and usable."""
        rules = understand(text, self.resolver, self.domain)
        wanted = self.understand_with_llm
        if wanted is None:
            wanted = bool(getattr(self.backend, "structured_outputs", False))
        if not (wanted and self.backend is not None):
            return rules
        try:
            extracted = extract_with_llm(self.backend, text, self.resolver, self.domain)
        except Exception as exc:  # an unusable answer or a failing LLM: the rules stand alone
            self.stats["llm_understanding_unusable"] += 1
            rules.llm = f"unusable: {type(exc).__name__}: {exc}"
            return rules
        return merge(rules, extracted, text)

    def send(self, text: str, *, explain: bool = True) -> Reply:
        """One turn. With ``explain=False`` the reasons are the template ones; stream the LLM's
        with :meth:`explain`. The message is cut at ``MAX_MESSAGE_CHARS`` (the reply notes it)
        and its personal data masked (recchat.privacy) before anything reads or keeps it: the
        wishes, the transcript and every prompt see only the masked text."""
        started = time.perf_counter()
        length = len(text)
        text = mask_pii(text, MAX_MESSAGE_CHARS, self.rec.pii_exemptions).text
        with acting_for(self.user_id, self.rec.pii_exemptions):
            u = self.understand(text)
            understood = time.perf_counter()
            self._update(u)
            ranking, relaxed = self._rank_or_relax()
        reply = self._reply(u, ranking, relaxed)
        if length > MAX_MESSAGE_CHARS:
            reply.notes.insert(0, f"Your message was {length:,} characters; I read the first {MAX_MESSAGE_CHARS:,}.")
        reply.timings = {
            "understand": understood - started,
            **ranking.timings,
            "reasons": time.perf_counter() - understood - sum(ranking.timings.values()),
        }
        self.turns.append(reply)
        self.transcript += [{"role": "user", "text": text}, {"role": "assistant", "text": reply.message}]
        self.stats["turns"] += 1
        if explain:
            for _ in self.explain(reply):
                pass
        return reply

    def _history(self) -> list[str]:
        s = self.state
        return [h for h in s.history if h not in s.disliked] + [i for i in s.liked if i not in s.history]

    def _rank(
        self, extra_exclude: list[str] | None = None, k: int | None = None, state: SessionState | None = None
    ) -> Ranking:
        """The ranking under ``state``'s constraints (the session's own by default)."""
        s = state or self.state
        history = self._history()
        query = " ".join(s.wishes[-3:]) or None
        exclude = sorted(s.rejected | s.named | set(s.liked) | set(s.history) | set(extra_exclude or []))
        where = s.where(self.domain.year)
        if not (history or query or where):
            return self._popular_start(exclude)
        return self.rec.recommend(
            history,
            k=k or self.k,
            filters=where,
            query=query,
            exclude=exclude,
            profile=self.profile,
            reranker=self.reranker,
            blend=self.blend,
        )

    def _rank_or_relax(self) -> tuple[Ranking, list[str]]:
        """The ranking, and when the constraints leave nothing, the closest picks: constraints
        are dropped one at a time (cumulatively) until something is found, in the order of
        :meth:`SessionState.loosenings`; returns the ranking and the dropped constraints in words. The
        session keeps its constraints: the next message is read against them all again."""
        ranking = self._rank()
        if ranking.candidates:
            return ranking, []
        dropped: list[str] = []
        for said, looser in self.state.loosenings(self.domain):
            dropped.append(said)
            relaxed = self._rank(state=looser)
            if relaxed.candidates:
                relaxed.timings = {
                    key: ranking.timings.get(key, 0.0) + relaxed.timings.get(key, 0.0)
                    for key in {*ranking.timings, *relaxed.timings}
                }
                return relaxed, dropped
        return ranking, []

    def _popular_start(self, exclude: list[str]) -> Ranking:
        started = time.perf_counter()
        cands = self.rec.candidates([], query=self.domain.cold_start_query, exclude=exclude)
        ranking = self.rec.rerank([], cands[: self.rec.pool], reranker=self.reranker, blend=self.blend)
        ranking.candidates = ranking.candidates[: self.k]
        ranking.timings = {"retrieve": time.perf_counter() - started}
        return ranking

    def _context(self) -> ExplainContext:
        s = self.state
        # What the user turned away (rejected, seen, a series kept out) a reason must never name;
        # a whole series they said they had seen is liked, not excluded.
        excluded = sorted(i for i in s.rejected | set(s.disliked) if i not in s.liked)
        series = [self.domain.series_named(n) for n in s.avoided_series]
        return ExplainContext(
            liked=list(s.liked),
            history=list(s.history),
            wanted=s.wanted,
            year_min=s.year_min,
            year_max=s.year_max,
            ranges=s.ranges,
            query=" ".join(s.wishes[-3:]),
            profile=self.profile.prompt_text() if self.profile else "",
            domain=self.domain,
            excluded=excluded,
            excluded_names=[x.label for x in series if x is not None],
            avoided={f: list(vs) for f, vs in s.avoided.items()},
        )

    def _reply(self, u: Understanding, ranking: Ranking, relaxed: list[str] | None = None) -> Reply:
        reasons = template_reasons(
            self.rec.catalog,
            ranking.candidates,
            self._context(),
            self.rec.text_vector,
            getattr(self.rec, "co_likes", None),
        )
        items = [ReplyItem(c, r) for c, r in zip(ranking.candidates, reasons)]
        self.state.last = [i.item.id for i in items]
        self.state.shown += [i for i in self.state.last if i not in self.state.shown]
        notes = []
        if u.llm.startswith("unusable"):
            notes.append("The language model's reading of your message was unusable; I went by the rules alone.")
        relaxed = list(relaxed or [])
        took = "".join(f"I took '{text}' as {self.rec.catalog[item_id].title}. " for text, item_id in u.took)
        return Reply(
            took + reply_message(self.state, self.domain, self.rec.catalog, u, items, ranking, relaxed),
            items,
            ranking,
            u,
            notes,
            relaxed=relaxed,
        )

    def explain(self, reply: Reply, only: list[int] | None = None) -> Iterator[int]:
        """Replace template reasons by the LLM's, yielding each position as it changes."""
        if not (self.explain_with_llm and self.backend is not None and reply.items):
            return
        started = time.perf_counter()
        positions = only if only is not None else list(range(min(len(reply.items), self.explain_top)))
        cands = [reply.items[n].candidate for n in positions]
        failed = 0
        stream = llm_reasons(
            self.backend,
            self.rec.catalog,
            cands,
            self._context(),
            vectors=self.rec.text_vector,
            co_likes=getattr(self.rec, "co_likes", None),
            reply=[i.candidate for i in reply.items],
        )
        for j, reason, problem in steps_acting_for(self.user_id, stream, self.rec.pii_exemptions):
            n = positions[j]
            if reason:
                reply.items[n].reason, reply.items[n].reason_source = reason, "llm"
                self.stats["llm_reasons"] += 1
                yield n
            else:
                self.stats["template_reasons"] += 1
                failed += 1
                if problem and not problem.startswith("unusable answer"):
                    reply.notes.append(f"Explanations fell back to templates: the LLM failed ({problem}).")
        if failed:
            reply.notes.append(
                f"{failed} of {count_noun(len(cands), 'reason')} {'is' if failed == 1 else 'are'} from "
                "templates (the LLM's answer was unusable or it failed)."
            )
        reply.timings["explain"] = reply.timings.get("explain", 0.0) + time.perf_counter() - started

    def feedback(self, item_id: str, liked: bool, *, explain: bool = True) -> Reply:
        """A like or dislike on a shown item. A liked item joins the liked list (later turns use
        it); a disliked one is rejected for good and replaced in place by the next best item."""
        if item_id not in self.rec.catalog:
            raise KeyError(f"item '{item_id}' is not in the catalog")
        s, last = self.state, self.turns[-1] if self.turns else None
        title = self.rec.catalog[item_id].title
        u = Understanding(liked=[item_id] if liked else [], disliked=[] if liked else [item_id], wish="")
        self._update(u)
        if last is None:
            return self.send(f"I {'liked' if liked else 'did not like'} {title}", explain=explain)
        items = list(last.items)
        if liked:
            reply = Reply(
                f"Noted: you like {title}. I will use it from your next message on.",
                items,
                last.ranking,
                u,
                list(last.notes),
                {},
            )
        else:
            started = time.perf_counter()
            keep = [i for i in items if i.item.id != item_id]
            with acting_for(self.user_id, self.rec.pii_exemptions):
                ranking = self._rank(extra_exclude=[i.item.id for i in keep], k=1)
            fresh = self._reply(u, ranking).items[:1] if ranking.candidates else []
            position = next((n for n, i in enumerate(items) if i.item.id == item_id), len(keep))
            items = keep[:position] + fresh + keep[position:]
            message = f"Noted: not {title}. " + (
                f"In its place: {fresh[0].item.title}." if fresh else "Nothing else fits the constraints."
            )
            if ranking.degraded and ranking.notes:
                message += " " + ranking.notes[0]
            reply = Reply(message, items, ranking, u, [], {"replace": time.perf_counter() - started})
            s.last = [i.item.id for i in items]
            if fresh and explain:
                for _ in self.explain(reply, only=[position]):
                    pass
        self.turns.append(reply)
        self.transcript += [
            {"role": "user", "text": f"{'Like' if liked else 'Not for me'}: {title}"},
            {"role": "assistant", "text": reply.message},
        ]
        return reply

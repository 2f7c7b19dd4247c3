"""Title linking: which catalog items a message names, as people write titles.

A :class:`Linker` is built once per catalog (the recommender makes one on first use and every
session shares it; nothing is recomputed per message) from the aliases of
:mod:`recchat.conversation.aliases`.

**Linking** (:meth:`Linker.link`): the message is cut into normalised words
(:func:`recchat.conversation.aliases.words`); words no title and no everyday English uses are corrected to the
closest title word (rapidfuzz: "shawshenk" -> "shawshank"); then every span that is an alias
links, longest first; misspelt titles of several words are compared whole ("forest gump"), and a
span that begins or ends an alias and holds an uncommon word links as a partial title
("shawshank", "holy grail"). Ambiguity (a remake, a stem several items share, two books of one
title) is settled by evidence: a year next to the title ("Titanic (1997)", "the 1954 one"), the
item's people written beside it ("grey heron by leo bell"), the alias's strength, then popularity
(the interaction log, or a catalog field where there is no log); a famous title misspelt into a
little-known one's exact title is the famous one ("inglorious bastards"). Once a series member is named,
its siblings are named by their mark alone ("part 3, is pt 4 worth it?", "three colors blue, then
red", "book 2 of the flanders saga", "parts 2 and 3", "vol 1 to 3", "#4") or by their place
("better than the first one", "the second one", "the sequel", "after the first two";
:mod:`recchat.conversation.link_series`), or by a
number the catalog's titles lack, counted in years where the numbered members sit at their numbers
("die hard 3", "star trek 2"). A title several items share names each one whose year or people
the message writes ("true grit 2010 or the 1969 john wayne one"), and the first of them when it
says "the original". The best-known tenth of the items are also named by their initials ("tdk",
"esb", "rotj", "t2") where the initials are no English word, or little used and written in
capitals ("MIB"); a number word is also written with its digit ("se7en").

Guards: a title made of everyday words ("Heat", "Her", "Them!", "Up", "Home Alone"), one plain
word naming a little-known item ("Heist", "Vibes"), or a phrase led by a preposition ("In the
Mood") links only when written as a title (capitalised away from the sentence start, quoted,
with inner punctuation as in "E.T.") or backed by a year, or in lower case when the sentence
says it is one: a word that introduces a title before it ("loved", "like", "than"), the title's
own article in any language ("the graduate", "das boot"), another title beside it in a list
("heat, seven and the usual suspects"), its people after it ("honey by caleb alvarez") or just
before it ("spike jonze's her", "tom hanks in big"), a year ("crash from 96"), or, for a
well-known item, the start of the message ("fargo, but funnier"); and it must end where a title
ends (the message, a clause, "was", "with"...). Dictionary words after a determiner that is not
the title's own are the sentence's ("a volcano", "the fury of a mother", "my in-laws"). Words no
clause has as its subject and nobody owns ("her", "up", "them", "us") name a well-known title only
where grammar says so: owned ("pixar's up"), a sentence's subject ("up made me cry"), listed among
titles ("ex machina, her, moon"); other pronouns only written as titles. Words of the domain's
kinds (genres, "movie") count as everyday; a title inside a person's name ("sandra" in "sandra
bullock"), before "of" ("the wizard of oz") or before the item noun or a kind ("a heist movie",
"slow burn mysteries") is no title. A person's first or last name ("carrie", "hitchcock",
"sting") is read as the person unless the sentence backs the title, and is never corrected to
a title word ("connery" is not "cannery"). A title dated with a year its items lack ("parasite,
the korean one from 2019") names a namesake the catalog does not hold, so nothing. Two titles
run into each other ("mad max fury road") are one longer name. After a title, common
lower-case words that happen to be another ("slumdog millionaire, indian movie with the quiz
show") are the user talking about the first unless listed, compared, cued or dated.

Members of one series (a shared stem, or one title beginning the other: "Speed" and "Speed 2",
"Jaws 2" and "Jaws 3-D", "Alien" and "Aliens") back each other: a later one is no aside, two in a
list link together ("alien or aliens?"). A remark in parentheses that says which one ("stalker
(the tarkovsky one)"), a title offered as a sentence of its own ("... like that? the right stuff
maybe?"), "called", "is <title> as good?" are evidence too; a number title links only in a list
of titles ("blade runner, 2001, alien"). A request's own words are no title: the rest of a written
word ("m" of "I'm"), "something wild", "watch next", "a road trip movie", two real words that
differ from a little-known title by a letter ("funny ones", not "Funny Bones"); two swapped
letters are a typo ("hotle" is "hotel", not "hole").

A learned second opinion (:mod:`recchat.conversation.link_judge`) then reviews every link not
written as a title, and every turned-down candidate, made of dictionary words ("night shift",
"frozen", "the birds"): a logistic
model over the words and punctuation around it, how well known the item is, how common its words
are and the rules' own verdicts, trained on the hand-labelled sentences of ``bench/linking``. It
drops what it doubts ("my boss is a total psycho") and takes what it trusts ("is shallow grave by
the same guy any good?"); it reviews only where the catalog says how well known items are (a log
or a popularity field), as on every catalog it was trained on. ``Linker(..., judge=None)``: the
rules alone.

A link that was corrected, partial, taken from a shared stem or chosen among several items says
so (:attr:`Link.guessed`), so the reply can say which item it took.

The module knows no catalog in particular; English word frequencies come from ``wordfreq``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from recchat.conversation.aliases import _key, _split_title, key_of, words
from recchat.conversation.link_index import FUNCTION_WORDS, MIN_PARTIAL_CHARS, TitleIndex, told_in, zipf
from recchat.conversation.link_judge import Judge, Recorder, review
from recchat.conversation.link_message import Link, LinkContext, capital_share, says_original, years_near
from recchat.conversation.link_rules import _ENDS, drop_asides, evidence, match
from recchat.conversation.link_series import _UNITS, counted_member, same_series, series_siblings

FUZZY_SPAN_CUTOFF = 90  # rapidfuzz ratio for several words to be taken as a misspelt title
_PART_WORDS = frozenset("part book vol chapter episode".split())


def _real_words_apart(span: list[str], title: list[str]) -> bool:
    """Whether the words where a span and a title differ are common words on both sides: the user
    wrote what they meant ("funny ones", not "Funny Bones"), unless the title is a well-known
    one ("the dark night"); a typo or a title's own spelling ("forest gump", "singing in the
    rain") has a rare word on one side."""
    mine = [w for w in span if w not in title and w not in FUNCTION_WORDS]  # ("elegy for an hour" = "a hour")
    theirs = [w for w in title if w not in span and w not in FUNCTION_WORDS]
    return bool(mine) and all(zipf(w) >= 4.0 for w in mine + theirs)


def drop_run_ins(index: TitleIndex, c: LinkContext, found: list[Link]) -> list[Link]:
    """Two titles written into each other, with no comma or "and" between them and more name
    after ("mad max fury road": "Mad Max" and "Fury"), are one longer name the catalog does
    not hold; a series name before its member ("lord of the rings fellowship of the ring")
    is the member's."""
    found = sorted(found, key=lambda f: f.start)
    drop: set[int] = set()
    for n in range(len(found) - 1):
        a, b = found[n], found[n + 1]
        if b.start != a.end or a.item_id == b.item_id or c.message[c.ws[a.end - 1].end : c.ws[b.start].start].strip():
            continue
        if a.kind == "stem" or key_of(index.catalog[b.item_id].title).startswith(" ".join(c.fixed[a.start : a.end])):
            drop.add(n)  # the series' name, then the member's subtitle ("wallace and gromit the wrong trousers")
            continue
        after = (
            b.end < len(c.ws)
            and c.fixed[b.end] not in _ENDS
            and c.fixed[b.end] not in FUNCTION_WORDS
            and not re.search(r"[,;:.!?()\"]", c.message[c.ws[b.end - 1].end : c.ws[b.end].start])
            and not any(f.start == b.end for f in found)
        )
        if b.end - b.start == 1 and after:
            drop.update((n, n + 1))
    return [f for n, f in enumerate(found) if n not in drop]


class Linker(TitleIndex):
    """Links the titles a message names to catalog items. Build once per catalog (see
    :class:`~recchat.conversation.link_index.TitleIndex` for the arguments).

    ``popularity``: interactions per item id (settles ambiguity; optional). ``everyday``: extra
    words that count as everyday text (the domain's facet values and item nouns). ``year_field``:
    the catalog field holding an item's year, else years are read from titles. ``extra``: more
    aliases (an aliases file's, :func:`~recchat.conversation.aliases.read_aliases`).
    """

    def __init__(
        self, *args: Any, judge: Judge | Recorder | Literal["shipped"] | None = "shipped", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        # the learned second opinion on titles of dictionary words (link_judge); None: the rules alone
        self.judge: Judge | Recorder | None = Judge.shipped() if isinstance(judge, str) else judge

    def link(self, message: str) -> list[Link]:
        """The items ``message`` names, in the order it names them."""
        ws = words(message)
        fixed = [w.text for w in ws]
        corrected = [False] * len(ws)
        for n, w in enumerate(fixed):
            if w not in self.containing and w not in FUNCTION_WORDS:
                c = self.correct(w)
                if c:
                    fixed[n], corrected[n] = c, True
        context = LinkContext(
            message,
            ws,
            fixed,
            corrected,
            years_near(message, ws),
            capital_share(message, ws),
            self._in_names(fixed),
            " ".join(fixed),
        )
        found: list[Link] = []
        weak: list[Link] = []  # everyday words that may be a title: decided once the sure links are known
        partial: list[Link] = []
        taken = [False] * len(ws)
        found += self._counted(context, taken)
        for size in range(min(self.max_words + 1, len(ws)), 0, -1):
            for start in range(len(ws) - size + 1):
                if any(taken[start : start + size]):
                    continue
                link, sure = match(self, context, start, size)
                if link is not None and sure and link.how == "partial" and size == 1:
                    partial.append(link)  # after the misspelt whole titles: "elegy for an hour"
                elif link is not None and sure:
                    found.append(link)
                    taken[start : start + size] = [True] * size
                elif link is not None:
                    weak.append(link)
        found += self._fuzzy(context, taken)
        for link in partial:
            if not any(taken[link.start : link.end]):
                found.append(link)
                taken[link.start : link.end] = [True] * (link.end - link.start)
        changed = True
        while changed:  # "speed and the rock": a title next to a title is one too
            changed = False
            for link in weak:
                if any(taken[link.start : link.end]):
                    continue
                mates = [
                    w
                    for w in weak
                    if (w.end <= link.start or w.start >= link.end) and same_series(self, w.item_id, link.item_id)
                ]
                if evidence(self, context, link, found, mates):
                    found.append(link)
                    taken[link.start : link.end] = [True] * (link.end - link.start)
                    changed = True
        ruled = found
        found = drop_run_ins(self, context, found)
        found = drop_asides(self, context, found)
        if self.judge is not None and self.popularity:  # (trained on catalogs that say how well known items are)
            dropped = [f for f in ruled if f not in found]
            found = review(self, self.judge, context, found, weak + dropped, taken)
        found += self._numbered_after(context, found, taken)
        found = series_siblings(self, context, found, taken)
        found += self._other_versions(context, found)
        # A shared stem ("Star Trek") names no one member when a member is named beside it.
        named = {self.stem_of.get(f.item_id) for f in found if f.kind != "stem"}
        found = [f for f in found if not (f.kind == "stem" and self.stem_of.get(f.item_id) in named)]
        return sorted(found, key=lambda f: f.start)

    def _in_names(self, fixed: list[str]) -> list[tuple[int, int]]:
        out = []
        for size in range(min(self.name_words, len(fixed)), 1, -1):
            for start in range(len(fixed) - size + 1):
                if " ".join(fixed[start : start + size]) in self.names:
                    out.append((start, start + size))
        return out

    def _numbered_after(self, c: LinkContext, found: list[Link], taken: list[bool]) -> list[Link]:
        """ "godfather 1 and 2", "terminator 2 or 3": a number after a numbered title names the
        title with that number."""
        out = []
        for link in found:
            key = " ".join(c.fixed[link.start : link.end])
            if not re.search(r" \d+$", key):
                continue
            n = link.end
            while n < len(c.ws):
                j = n + 1 if c.fixed[n] in ("and", "or", "&") else n  # "1 and 2", "1 2 and 3", "1, 2, 3"
                if j == n and not re.fullmatch(r"\s*,?\s*", c.message[c.ws[n - 1].end : c.ws[n].start]):
                    break
                if j + 1 < len(c.ws) and c.fixed[j] in _PART_WORDS and key.split()[-2:-1] == [c.fixed[j]]:
                    j += 1  # "book 1 and book 2"
                if j >= len(c.ws) or not c.fixed[j].isdigit() or taken[j]:
                    break
                other = _key(key.split()[:-1] + [c.fixed[j]])
                chosen = self.choose(self.by_key.get(other, []), None)
                if chosen is None:
                    break
                out.append(Link(chosen.item_id, j, j + 1, c.message[c.ws[j].start : c.ws[j].end], "exact", chosen.kind))
                taken[j] = True
                n = j + 1
        return out

    def _counted(self, c: LinkContext, taken: list[bool]) -> list[Link]:
        """ "die hard 3", "star trek 2": a series' name and a number the catalog's titles do not
        carry names the member at that place (:func:`~recchat.conversation.link_series.counted_member`)."""
        out = []
        for end in range(2, len(c.ws) + 1):
            number = c.fixed[end - 1]
            if not number.isdigit() or len(number) > 2 or (end < len(c.ws) and c.fixed[end] in _UNITS):
                continue
            for start in range(max(0, end - 1 - self.max_words), end - 1):
                base = _key(c.fixed[start : end - 1])
                if any(taken[start:end]) or _key(c.fixed[start:end]) in self.by_key or base not in self.by_key:
                    continue
                member = counted_member(self, base, int(number))
                if member:
                    out.append(Link(member, start, end, c.message[c.ws[start].start : c.ws[end - 1].end], "counted"))
                    taken[start:end] = [True] * (end - start)
                    break
        return out

    def _other_versions(self, c: LinkContext, found: list[Link]) -> list[Link]:
        """ "true grit 2010 with jeff bridges or the 1969 john wayne one", "the 1953 titanic, before
        cameron's": a title several items share names each one whose own year or people the
        message writes (and the chosen one's do not say)."""
        out: list[Link] = []
        text = " " + c.text + " "
        years = {str(y) for y in c.years.values()}
        original = says_original(c.text)  # "the 91 cape fear or the original"
        linked = {f.item_id for f in found}
        for link in found:
            if link.kind not in ("title", "alternate"):
                continue
            key = _key(c.fixed[link.start : link.end])
            mine = set(self.facts_of(link.item_id, loose=True))
            for alias in self.by_key.get(key, ()):
                other = alias.item_id
                if other in linked or alias.kind not in ("title", "alternate"):
                    continue
                told = [
                    v
                    for v in self.facts_of(other, loose=True)
                    if v not in mine and (v.isdigit() and v in years or told_in(v, text))
                ]
                first = original and self.years.get(other, 9999) < min(
                    (self.years.get(a.item_id, 9999) for a in self.by_key[key] if a.item_id != other), default=9999
                )
                if told or first:
                    out.append(Link(other, link.start, link.end, link.text, link.how, alias.kind))
                    linked.add(other)
        return out

    def _fuzzy(self, c: LinkContext, taken: list[bool]) -> list[Link]:
        """Titles misspelt across words ("forest gump", "singing in the rain"): spans of free
        words compared (rapidfuzz) with the titles that share their rarest word."""
        from rapidfuzz import fuzz

        out: list[Link] = []
        n = len(c.ws)
        for size in range(min(8, n), 1, -1):
            for start in range(n - size + 1):
                if any(taken[start : start + size]):
                    continue
                span = c.fixed[start : start + size]
                if (
                    span[-1] in FUNCTION_WORDS
                    or (span[0] in FUNCTION_WORDS and size < 3)
                    or " ".join(span) in self.by_key
                    or (start and c.fixed[start - 1] in ("by", "starring"))
                ):
                    continue
                digits = [w for w in span if w.isdigit()]
                text = " ".join(span)
                rare = [w for w in span if w in self.containing and len(self.containing[w]) <= 300 and len(w) >= 4]
                if len(text) < 8 or not rare:
                    continue
                best, score = None, 0.0
                pool = dict.fromkeys(
                    k for w in sorted(rare, key=lambda w: len(self.containing[w]))[:2] for k in self.containing[w][:300]
                )  # a typo may hit the rarest word
                for full in pool:
                    if abs(full.count(" ") + 1 - size) <= 1 and [w for w in full.split() if w.isdigit()] == digits:
                        r = fuzz.ratio(text, full)
                        if r > score:
                            best, score = full, r
                if (
                    best is not None
                    and _real_words_apart(span, best.split())
                    and not any(self.popularity.get(a.item_id, 0) >= self.known for a in self.by_key[best])
                ):
                    continue  # "funny ones" is no typo of "Funny Bones", nor "salt and old" of "Salt and Gold"
                if (
                    best is None
                    or score < FUZZY_SPAN_CUTOFF
                    or self.is_everyday(best)
                    or (score < 95 and not any(zipf(w) < 4.0 for w in best.split()))
                ):
                    continue
                chosen = self.choose(self.by_key[best], None)
                if chosen is None or chosen.kind == "stem":
                    continue
                out.append(
                    Link(
                        chosen.item_id,
                        start,
                        start + size,
                        c.message[c.ws[start].start : c.ws[start + size - 1].end],
                        "corrected",
                        chosen.kind,
                    )
                )
                taken[start : start + size] = [True] * size
        return out

    def resolve(self, text: str) -> str | None:
        """The item whose title best matches ``text`` on its own (an LLM's extracted title), or None."""
        text = _split_title(text)[0] or text  # "Matrix, The (1999)" as a catalog writes it
        ws = words(text)
        if not ws:
            return None
        key = key_of(text)
        aliases = self.by_key.get(key)
        if not aliases:
            key = _key([self.correct(w.text) or w.text if w.text not in self.containing else w.text for w in ws])
            aliases = self.by_key.get(key) or (self.partial_matches(key) if len(key) >= MIN_PARTIAL_CHARS else None)
        if not aliases:  # a longer name around a title: "Star Wars: A New Hope" -> Star Wars
            inside = self.link(text)
            return max(inside, key=lambda n: n.end - n.start).item_id if inside else None
        years = years_near(text, ws)
        chosen = self.choose(aliases, next(iter(years.values()), None))
        return chosen.item_id if chosen else None

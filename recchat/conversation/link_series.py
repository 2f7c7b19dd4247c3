"""Other members of a series, named by what tells them apart once the series is named.

People name one member of a series and then the next by its number or its own word alone: "the
gilded mountain part 3, is pt 4 worth it?", "kill bill vol 2 is better than vol 1", "i loved the
madeira saga book one, is book two as good?", "three colors blue, then red", "book 2 of the
flanders saga". :func:`series_siblings` finds those once the linker has linked the named member;
it knows only the catalog's titles (a member's title is the series' name and its mark), so no
sibling is linked unless the catalog holds one with that mark.
"""

from __future__ import annotations

import re

from recchat.conversation.aliases import _NUMBER_SWAP, _split_title, key_of
from recchat.conversation.link_index import FUNCTION_WORDS, TitleIndex
from recchat.conversation.link_message import Link, LinkContext

# Words before a number that say "this member of the series" ("part" and "pt" are dropped from
# the words before a digit, so they are looked for in the text between words).
MARKS = frozenset("book vol chapter episode ep no".split())
_MARK_WORDS = MARKS | frozenset("books vols chapters episodes parts pts".split())  # "parts 2 and 3"
_DROPPED_MARK = re.compile(r"(?:\b(?:part|pt)\.?\s*|#)$", re.IGNORECASE)
_NUMBER_WORDS = {"one": "1", **{w: d for w, d in _NUMBER_SWAP.items() if w.isalpha() and d.isdigit()}}
_NUMBERED = re.compile(r"(.+?) (?:(?:" + "|".join(sorted(MARKS)) + r") )?(\d+|" + "|".join(_NUMBER_WORDS) + r")")
# What may come between a member and a sibling named by its own word: "blue, then red".
_BEFORE_PLAIN = frozenset("and or then than vs not but over seen saw watched read".split())
_AFTER_PLAIN = frozenset("and or but was is were too also then first next either tho though again".split())


# "X 2 was better than the first one", "the flanders saga and the second one": a member by its place.
_ORDINALS = {
    **dict(zip("first second third fourth fifth sixth seventh eighth ninth".split(), "123456789")),
    **{f"{n}{'st' if n == 1 else 'nd' if n == 2 else 'rd' if n == 3 else 'th'}": str(n) for n in range(1, 10)},
}
_ORDINAL_NOUNS = frozenset("one book movie film novel part installment".split())
_UNITS = frozenset("stars times hours days weeks pages minutes mins years out of".split())
_AFTER_PLACE = frozenset("worth as any imo lol".split())  # "is the third worth it?", "than the first imo"


def _by_place(index: TitleIndex, c: LinkContext, link: Link, base: str, j: int, taken: list[bool]) -> Link | None:
    """The member a sibling's place names ("the first one", "the second", "the sequel": the
    next), after a member of a numbered series; "the first 10 minutes" and "the first time" are
    no member."""
    own = str(_own_number(index, link.item_id))
    place = (
        str(int(own) + 1) if c.fixed[j] == "sequel" else "1" if c.fixed[j] == "original" else _ORDINALS.get(c.fixed[j])
    )
    article = c.fixed[j - 1] in ("the", "its") or (c.fixed[j - 1] == "a" and c.fixed[j + 1 : j + 2] == ["one"])
    if not place or not article or taken[j - 1]:  # ("is there a second one")
        return None
    end = j + 1
    if c.fixed[j] == "sequel":
        pass  # a noun of its own: "is the sequel good"
    elif end < len(c.ws) and c.fixed[end] in _ORDINAL_NOUNS:
        end += 1
    elif end < len(c.ws) and not (
        re.search(r"[,;:.!?()]", c.message[c.ws[j].end : c.ws[end].start])
        or c.fixed[end] in _AFTER_PLAIN
        or c.fixed[end] in _AFTER_PLACE
    ):
        return None
    if place == own:
        return None  # "book 1 ... the first one" is the same book
    sibling = _numbered_sibling(index, base, place, link.item_id)
    return Link(sibling, j - 1, end, c.message[c.ws[j - 1].start : c.ws[end - 1].end]) if sibling else None


# Around a bare number that names a sibling: "2 was meh, is 3 better?", "does 3 pick up", "do 3 and 4 get better"
_BEFORE_BARE = frozenset("is does do did was and or than vs after before".split())
_AFTER_BARE = frozenset("was is were get gets pick picks better worse good any worth too out".split())


def _bare(c: LinkContext, j: int) -> bool:
    """Whether a number alone at word ``j``, after a numbered member, is a sibling: it starts a
    clause or follows "is", "does", "and"..., and what follows talks about it ("3 pick up"), not
    counts with it ("3 stars", "2 of my kids")."""
    if not c.fixed[j].isdigit() or not 1 <= int(c.fixed[j]) <= 12:
        return False
    gap_before = c.message[c.ws[j - 1].end : c.ws[j].start]
    gap_after = c.message[c.ws[j].end : c.ws[j + 1].start] if j + 1 < len(c.ws) else "."
    if not (c.fixed[j - 1] in _BEFORE_BARE or re.search(r"[,;.!?]", gap_before)):
        return False
    if j + 2 < len(c.ws) and c.fixed[j + 1] in ("and", "or") and c.fixed[j + 2].isdigit():
        j += 2  # "do 3 and 4 get better", not "2 and 3 of my friends"
        gap_after = c.message[c.ws[j].end : c.ws[j + 1].start] if j + 1 < len(c.ws) else "."
    return bool(re.search(r"[,;.!?]", gap_after)) or c.fixed[j + 1] in _AFTER_BARE


def _first_few(c: LinkContext, j: int) -> int:
    """How many members "the first two" (three, four, five) at word ``j`` names; 0 where it is
    no such place ("the first 10 minutes", "the first two episodes")."""
    if c.fixed[j - 1] != "the" or j + 1 >= len(c.ws) or any(c.corrected[j - 1 : j + 2]):
        return 0
    few = int(_digit(c.fixed[j + 1]) or 0)
    end = j + 2
    if not 2 <= few <= 5 or (
        end < len(c.ws)
        and not re.search(r"[,;:.!?()]", c.message[c.ws[end - 1].end : c.ws[end].start])
        and c.fixed[end]
        not in _AFTER_PLAIN | _AFTER_PLACE | _AFTER_BARE | {"movies", "films", "books", "ones", "parts"}
    ):
        return 0
    return few


def _own_number(index: TitleIndex, item_id: str) -> int:
    """A series member's number in its title; 1 for the unnumbered first ("Iron Man")."""
    m = _NUMBERED.fullmatch(title_key(index, item_id))
    return int((_digit(m.group(2)) if m else None) or 1)


def _digit(word: str) -> str | None:
    return word if word.isdigit() else _NUMBER_WORDS.get(word)


def _marked(c: LinkContext, j: int) -> bool:
    """Whether the number at word ``j`` has a series mark before it ("pt 4", "book two", "vol 1",
    "parts 2 and 3")."""
    if j and c.fixed[j - 1] in _MARK_WORDS:
        return True
    gap = c.message[c.ws[j - 1].end if j else 0 : c.ws[j].start]
    return bool(_DROPPED_MARK.search(gap))


def title_key(index: TitleIndex, item_id: str) -> str:
    """An item's title as a key, without "(1993)" or its article: "Matrix Reloaded, The" -> "matrix
    reloaded" (and its series' name, :func:`_series_name`), worked out once per item."""
    return _keyed(index, item_id)[0]


def _keyed(index: TitleIndex, item_id: str) -> tuple[str, str | None]:
    cache = index.series_names
    if item_id not in cache:
        title = index.catalog[item_id].title
        key = key_of(_split_title(title)[0] or title)
        m = _NUMBERED.fullmatch(key)
        cache[item_id] = (key, m.group(1) if m else _prefix_base(index, key, item_id))
    return cache[item_id]


def _prefix_base(index: TitleIndex, key: str, item_id: str = "") -> str | None:
    """The longest title of another item that begins ``key``: "speed 2 cruise control" -> "speed",
    "matrix reloaded" -> "matrix", "silent ashes 4 exile" -> "silent ashes" (not its own "silent
    ashes 4"); None when no other item's title begins it."""
    ws = key.split()
    for n in range(len(ws) - 1, 0, -1):
        base = " ".join(ws[:n])
        if len(base) >= 3 and ws[n - 1] not in FUNCTION_WORDS and set(index.by_norm.get(base, ())) - {item_id}:
            return base
    return None


def _series_name(index: TitleIndex, item_id: str) -> str | None:
    """The name a member shares with its series: the title before its number ("jaws" of "jaws 2"),
    else the longest other title that begins it ("jaws" of "jaws 3 d")."""
    return _keyed(index, item_id)[1]


def same_series(index: TitleIndex, a: str, b: str) -> bool:
    """Whether items ``a`` and ``b`` are of one series by their titles: a shared stem ("Star Trek:
    ..."), one title beginning the other ("Speed" and "Speed 2: Cruise Control"), both beginning
    with a third ("Jaws 2" and "Jaws 3-D" after "Jaws"), or a plural ("Alien", "Aliens")."""
    if a == b:
        return False
    stem = index.stem_of.get(a)
    if stem and stem == index.stem_of.get(b):
        return True
    ka, kb = title_key(index, a), title_key(index, b)
    short, long_ = sorted((ka, kb), key=len)
    if long_.startswith(short + " ") or long_ == short + "s":
        return True
    base = _series_name(index, a)
    return base is not None and base == _series_name(index, b)


def _series_of(index: TitleIndex, item_id: str) -> tuple[str, bool]:
    """The series' name in a member's title key and whether its members are numbered: "gilded
    mountain 3" -> ("gilded mountain", True); "three colors blue" -> ("three colors", False); a
    title of its own ("flanders saga") -> itself, numbered (its sequels would say "book 2")."""
    key = title_key(index, item_id)  # without "(1993)" or a trailing article
    m = _NUMBERED.fullmatch(key)
    if m:
        return m.group(1), True
    stem = index.stem_of.get(item_id)
    if not stem and not _numbered_sibling(index, key, "2", item_id):
        stem = _prefix_base(index, key, item_id)  # "matrix" of "matrix reloaded" (a title with no "2" of its own)
    return (stem, False) if stem else (key, True)


def _numbered_sibling(index: TitleIndex, base: str, number: str, not_id: str) -> str | None:
    keys = [f"{base} {n}" for n in (number, _NUMBER_SWAP.get(number, number))]
    keys += [f"{base} {mark} {n}" for mark in sorted(MARKS) for n in (number, _NUMBER_SWAP.get(number, number))]
    aliases = [
        a
        for k in dict.fromkeys(keys)
        for a in index.by_key.get(k, ())
        if a.item_id != not_id and a.kind in ("title", "subtitle", "alternate")
    ]
    if not aliases and number == "1":  # "vol 2 >> vol 1" where the first has no number
        aliases = [a for a in index.by_key.get(base, ()) if a.item_id != not_id and a.kind in ("title", "alternate")]
    chosen = index.choose(aliases, None)
    return chosen.item_id if chosen else None


def counted_member(index: TitleIndex, base: str, number: int) -> str | None:
    """The member a number names where the catalog does not number it: "die hard 3" is Die Hard:
    With a Vengeance, "star trek 2" Star Trek: The Wrath of Khan. The titles that begin with the
    series' name, in the order of their years, are trusted only where every member the catalog
    numbers ("Die Hard 2", "Star Trek IV") sits at its number."""
    if number < 2 or base not in index.by_key:
        return None
    members: dict[str, int] = {}
    for key in index.containing.get(base.split()[0], ()):
        if key == base or key.startswith(base + " "):
            for a in index.by_key[key]:
                if a.kind in ("title", "alternate", "subtitle") and a.item_id in index.years:
                    members[a.item_id] = index.years[a.item_id]
    ranked = sorted(members, key=lambda i: (members[i], i))
    numbered = 0
    for place, item in enumerate(ranked, start=1):
        for n in range(2, 13):
            if any(a.item_id == item for a in index.by_key.get(f"{base} {n}", ())):
                if n != place:
                    return None
                numbered += 1
    return ranked[number - 1] if numbered and number <= len(ranked) else None


def _plain_members(index: TitleIndex, stem: str) -> dict[str, str]:
    """A stem series' members by the words after the stem: "three colors" -> {"blue": ..., "red": ...}."""
    cache = index.series_members
    if stem not in cache:
        members: dict[str, str] = {}
        for key in index.containing.get(stem.split()[0], ()):
            if key.startswith(stem + " "):
                for a in index.by_key[key]:
                    if a.kind == "title" and (index.stem_of.get(a.item_id) == stem or stem in index.by_norm):
                        members.setdefault(key[len(stem) + 1 :], a.item_id)
        cache[stem] = members
    return cache[stem]


def series_siblings(index: TitleIndex, c: LinkContext, found: list[Link], taken: list[bool]) -> list[Link]:
    """``found`` with the series members named by their mark alone added, and a member named by
    a mark before the series ("book 2 of the flanders saga") put in place of the series' first."""
    out = list(found)
    for n, link in enumerate(found):
        base, numbered = _series_of(index, link.item_id)
        # "book 2 of the flanders saga": the mark before "of (the)" names the member.
        k = link.start - 1
        if k >= 0 and c.fixed[k] == "the":
            k -= 1
        if numbered and k >= 1 and c.fixed[k] == "of" and _digit(c.fixed[k - 1]) and _marked(c, k - 1):
            sibling = _numbered_sibling(index, base, _digit(c.fixed[k - 1]) or "", link.item_id)
            if sibling:
                j = k - 2 if k >= 2 and c.fixed[k - 2] in MARKS else k - 1
                text = c.message[c.ws[j].start : c.ws[link.end - 1].end]
                out[n] = Link(sibling, j, link.end, text, "exact", "title")
                taken[j : link.end] = [True] * (link.end - j)  # (and on: "book 4 of the x, book 3 was slow")
        # where the last number of this series ends ("vol 2 and 3": the 3 after the sibling's 2)
        numbers_end = link.end if _digit(c.fixed[link.end - 1]) else -1
        for j in range(link.end, len(c.ws)):  # "part I ... do I have to read part II before part III"
            if taken[j]:
                continue
            number = _digit(c.fixed[j])
            listed = (
                j - 1 == numbers_end
                and c.fixed[j - 1] in ("and", "or", "to", "through", "thru")
                and (j + 1 == len(c.ws) or c.fixed[j + 1] not in _UNITS)  # "gave it 2 to 3 stars"
            )
            if (
                numbered and number and (_marked(c, j) or listed or _bare(c, j))
            ):  # "is pt 4 worth it?", "book one and two"
                numbers = [number]
                before = _digit(c.fixed[numbers_end - 1]) if numbers_end > 0 else None
                if listed and c.fixed[j - 1] not in ("and", "or") and before and int(before) < int(number) <= 12:
                    numbers = [str(k) for k in range(int(before) + 1, int(number) + 1)]  # "vol 1 to 3"
                first = j - 1 if c.fixed[j - 1] in _MARK_WORDS and not taken[j - 1] else j
                for each in numbers:
                    sibling = _numbered_sibling(index, base, each, link.item_id)
                    if sibling and sibling not in {f.item_id for f in out}:
                        out.append(Link(sibling, first, j + 1, c.message[c.ws[first].start : c.ws[j].end]))
                        taken[first : j + 1] = [True] * (j + 1 - first)
                        numbers_end = j + 1
            elif numbered and j and c.fixed[j] in ("first", "next") and (few := _first_few(c, j)):  # "the first two"
                after = _own_number(index, link.item_id) if c.fixed[j] == "next" else 0  # "are the next two better"
                for place in range(after + 1, after + few + 1):
                    sibling = _numbered_sibling(index, base, str(place), link.item_id)
                    if sibling and sibling not in {f.item_id for f in out}:
                        out.append(Link(sibling, j - 1, j + 2, c.message[c.ws[j - 1].start : c.ws[j + 1].end]))
                taken[j - 1 : j + 2] = [True] * 3
            elif numbered and j and (c.fixed[j] in _ORDINALS or c.fixed[j] in ("sequel", "original")):
                _add(out, taken, _by_place(index, c, link, base, j, taken))
            elif not numbered:  # "three colors blue, then red."
                _add(out, taken, _plain_sibling(index, c, link, base, j, taken))
        if not numbered and base == index.stem_of.get(link.item_id):
            # "fellowship, two towers and return of the king": a member of a named series listed before it
            for j in range(link.start - 1, -1, -1):
                _add(out, taken, _plain_sibling(index, c, link, base, j, taken))
    return out


def _add(out: list[Link], taken: list[bool], link: Link | None) -> None:
    if link and link.item_id not in {f.item_id for f in out}:
        out.append(link)
        taken[link.start : link.end] = [True] * (link.end - link.start)


def _plain_sibling(index: TitleIndex, c: LinkContext, link: Link, stem: str, j: int, taken: list[bool]) -> Link | None:
    members = _plain_members(index, stem)
    before = j < link.start
    if taken[j]:
        return None
    if not before:
        gap_before = c.message[c.ws[j - 1].end : c.ws[j].start]
        if not (re.search(r"[,;/>]", gap_before) or c.fixed[j - 1] in _BEFORE_PLAIN):
            return None
    for size in (3, 2, 1):
        end = j + size
        if end > (link.start if before else len(c.ws)) or any(taken[j:end]):
            continue
        words = " ".join(c.fixed[j:end])
        item_id = members.get(words)
        if item_id is None and size == 1 and len(words) >= 5 and words not in FUNCTION_WORDS:
            # "fellowship" of "the fellowship of the ring": the one member whose own words begin so
            ids = {i for m, i in members.items() if re.sub(r"^(?:the|a|an) ", "", m).startswith(words + " ")}
            item_id = ids.pop() if len(ids) == 1 else None
        if item_id is None or item_id == link.item_id:
            continue
        gap_after = c.message[c.ws[end - 1].end : c.ws[end].start] if end < len(c.ws) else "."
        if before:  # right before the named member, in a list: "fellowship, two towers"
            if end == link.start and re.search(r"[,;/>&]|\band\b|\bor\b", gap_after):
                return Link(item_id, j, end, c.message[c.ws[j].start : c.ws[end - 1].end])
        elif re.search(r"[,;:.!?()]|\s[-–—]\s", gap_after) or c.fixed[end] in _AFTER_PLAIN:
            return Link(item_id, j, end, c.message[c.ws[j].start : c.ws[end - 1].end])
    return None

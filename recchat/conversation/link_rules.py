"""The acceptance rules of title linking: whether words that match an alias are meant as a title.

:func:`match` looks up one span of a message and says whether its link is sure; links of everyday
words wait for :func:`evidence` (a cue word, the title's own article, a list of titles, its
people after it, the message's start). :func:`drop_asides` drops links the sentence around them
rules out (the user's own words after a title). See :mod:`recchat.conversation.link` for the
rules in words.
"""

from __future__ import annotations

import re

from recchat.conversation.aliases import _key, _split_title, normalize
from recchat.conversation.link_index import EVERYDAY_ONE, FUNCTION_WORDS, TitleIndex, zipf
from recchat.conversation.link_message import Link, LinkContext, says_original, written_as_title, year_dated
from recchat.conversation.link_series import same_series

ASIDE_ZIPF = 2.5  # words at least this common may be the user's own words after a title
_YEAR_WORDS = frozenset("in from since after before of the until till around circa".split())
_PREPOSITIONS = frozenset("in on at for with by from to into under over after before about".split())
_PRONOUNS = frozenset("it me you him her them us this that".split())
# Words that are never a clause's subject nor a possessive's thing: "Her", "Up", "Them", "Us" as
# titles are told apart by grammar ("pixar's up", "her made me cry", "ex machina, her, moon").
_OBJECT_WORDS = frozenset("her him them us up".split())
# "<her> was ..." at a sentence's start: a verb that needs a subject there.
_SUBJECT_VERBS = frozenset(
    "was is has had made makes destroyed broke wrecked ruined gave gives left hit got gets still honestly".split()
)
# 's after these is "is" ("what's up", "he's up", "let's"): no possessive
_NOT_OWNERS = frozenset("it that what there here he she who let where how everyone everything".split())
# Words after which lower-case everyday words are read as a title ("something like heat").
_CUES = frozenset(
    "like liked likes love loved loves enjoyed enjoy adored adore watched watch saw seen rewatched "
    "read reread finished than as rewatch see called titled mentioned recommended suggested".split()
)


# Words that begin or end a request, never a title in lower case on their own say-so.
_INDEFINITE = frozenset("something anything nothing everything someone somebody anyone".split())
_ADVERBS = frozenset("next again tonight later now together alone online first more instead today soon".split())
# After "is <title>": a question about an item ("is small kings as good?", "is heat worth it?").
_ASKED = frozenset("as any worth".split())
_NEAR_CUES = frozenset("like liked love loved than".split())  # "is like a teen pulp fiction"
_CUE_PAIRS = {
    ("fan", "of"),
    ("similar", "to"),
    ("same", "as"),
    ("thought", "of"),
    ("favorite", "is"),
    ("remake", "of"),
    ("sequel", "to"),
    ("version", "of"),
    ("and", "also"),
}
# Words that may follow a title: a title ends before them ("speed was great", "ghost with ...").
_ENDS = frozenset(
    "and or but was is were are with by from in on at for again last yesterday recently twice too "
    "also so because when then which that who it has had made gets got please pls plz lol imo tho though "
    "tbh ngl idk btw lmao haha omg fr rn extended edition cut remake sequel trilogy original already yet "
    "every tonight today once lately ago like done next".split()
)
# Between two titles of a list, after a remark in parentheses about the first maybe: "psycho (the
# 1960 one) and rear window".
_LIST_GAP = re.compile(
    r"\s*(?:\([^()]{0,60}\)\s*)?(?:,|&|and|or|,\s*and|,\s*or|>+|<+|/|\+|vs\.?)\s*(?:(?:the|a|an)\s+)?", re.IGNORECASE
)  # (an article after the gap may be the title's own, outside a partial title: "and the last crusade")
# Words before common words that make them the sentence's own: "a volcano", "some thorns", "my in-laws".
_DETERMINERS = frozenset("a an some any my our your his her their this that these those every each no".split())


# A remark in parentheses right after words that says which item they are: "stalker (the tarkovsky
# one)", "little women (the winona ryder version)", "babe (1995)".
_QUALIFIED = re.compile(
    r"\s*\((?=[^()]{0,50}\))[^()]*?\b(?:one|version|original|remake|film|movie|book|novel|(?:19|20)\d\d)\b",
    re.IGNORECASE,
)
# Words that may close a sentence that is only a title: "raising arizona maybe?", "the birds, perhaps."
_HEDGES = frozenset("maybe perhaps probably too tho though lol".split())


def asked(c: LinkContext, end: int) -> bool:
    """Whether the words from ``end`` ask about an item: "as good", "any good", "just as good", "worth it"."""
    nxt = c.fixed[end : end + 2]
    return bool(nxt) and (
        nxt[0] in _ASKED
        or (nxt[0] in ("just", "really", "still", "actually") and nxt[1:] in (["as"], ["any"], ["worth"]))
    )


def qualified(c: LinkContext, link: Link) -> bool:
    """Whether a remark in parentheses right after the words says which item they are."""
    return link.end < len(c.ws) and bool(_QUALIFIED.match(c.message[c.ws[link.end - 1].end :]))


def offered_alone(index: TitleIndex, c: LinkContext, link: Link) -> bool:
    """Whether the words name a known item as a sentence of their own after another one, offered as
    a question or with a hedge: "anything about space like that? the right stuff maybe?" """
    if (
        index.popularity.get(link.item_id, 0) < index.known
        or not link.start
        or not re.search(r"[.?!]", c.message[c.ws[link.start - 1].end : c.ws[link.start].start])
    ):
        return False
    n = link.end
    while (
        n < len(c.ws) and c.fixed[n] in _HEDGES and not re.search(r"[.?!]", c.message[c.ws[n - 1].end : c.ws[n].start])
    ):
        n += 1
    end = c.message[c.ws[n - 1].end : c.ws[n].start if n < len(c.ws) else len(c.message)]
    # offered, not described: a question or a hedge ("haunted house." after a title is a description)
    return bool(re.search(r"[.?!]", end) or n == len(c.ws)) and ("?" in end or n > link.end)


def match(index: TitleIndex, c: LinkContext, start: int, size: int) -> tuple[Link | None, bool]:
    """The link of the words ``start``:``start + size``, and whether it is sure (else it
    is made of everyday words and needs the evidence :func:`evidence` weighs)."""
    span = c.fixed[start : start + size]
    if span[0] == "s" or span[-1] == "s":
        return None, False  # a possessive's "s" belongs to the word before it
    if start and c.ws[start].start == c.ws[start - 1].start:
        return None, False  # the rest of a written word: "m" of "I'm", "man" of "spider-man"
    if any(a <= start and start + size <= b and b - a > size for a, b in c.names):
        return None, False  # "sandra" in "sandra bullock"
    full = " ".join(w for w in span if w != "s")
    if size > 1 and span[0] in ("the", "a", "an") and full not in index.by_key:
        return None, False  # "a kid", "the colors": the article is the sentence's, not a title's
    key = full if full in index.by_key else _key(span)
    if key not in index.by_key and size == 2 and span[0] + span[1] in index.by_key:
        key = span[0] + span[1]  # "brave heart" = "Braveheart", "spider man" = "Spider-Man"
    if key not in index.by_key and size > 1 and span[-1] == "1" and _key(span[:-1]) in index.by_norm:
        key = _key(span[:-1])  # "back to the future 1": the first, where the catalog numbers no sequel
    if key not in index.by_key and size > 1 and any(w.endswith("s") and len(w) >= 4 for w in span[:-1]):
        bare = _key([w[:-1] if w.endswith("s") and len(w) >= 4 else w for w in span[:-1]] + span[-1:])
        key = bare if bare in index.by_key else key  # "pans labyrinth": a possessive without its apostrophe
    how = "corrected" if any(c.corrected[start : start + size]) else "exact"
    aliases = index.by_key.get(key)
    after_by = start > 0 and c.fixed[start - 1] in ("by", "starring")  # a person's name, not a title
    if (
        not aliases
        and span[-1] not in FUNCTION_WORDS
        and span[0] not in FUNCTION_WORDS
        and key
        and not after_by
        and key not in index.name_parts
    ):  # "fellini's": the director, not "Fellini's Casanova"
        aliases = index.partial_matches(key) if key not in index.names else []  # "jackie chan!": the person
        if len({a.item_id for a in aliases}) > 2:
            aliases = []  # "harry potter": the start of too many titles to pick one
        how = "partial" if aliases else how
    if not aliases:
        return None, False
    dated = year_dated(c.message, c.ws[start + size - 1].end)
    if (
        dated is not None
        and index.years
        and not any(abs(index.years.get(a.item_id, -99) - dated) <= 1 for a in aliases)
    ):
        return None, False  # "parasite, the korean one from 2019": a namesake the catalog lacks
    year = c.years.get(start + size)
    if year is not None and not any(abs(index.years.get(a.item_id, -99) - year) <= 1 for a in aliases):
        year = None  # a year that fits none of them is about something else ("Heat, from 1960 on")
    if year is None:
        year = c.year_in(start + size, index.years, aliases)
    if year is None and says_original(" ".join(c.fixed[max(0, start - 2) : start + size + 6])):
        # "oldboy, the original korean one", "sabrina, the old one ... not the remake": the first of its name
        year = min((index.years[a.item_id] for a in aliases if a.item_id in index.years), default=None)
    chosen = index.choose(aliases, year, c.text)
    if chosen is None:
        return None, False
    if year is None and how == "exact":  # "inglorious bastards", "season of ashes by mateo thorne"
        chosen, how = index.meant(chosen, key, c.text, bool(c.names))
    written = c.message[c.ws[start].start : c.ws[start + size - 1].end]
    # ("8pm ET" is a time zone)
    capitals = (
        written.isupper()
        and c.capitals <= 0.6
        and not re.search(r"\d\s*(?:[ap]m)?\s*$", c.message[: c.ws[start].start])
    )
    if (chosen.kind == "short" and not re.search(r"[a-zA-Z]\.[a-zA-Z]", written)) or (
        key in index.capital_initials and not capitals
    ):
        return None, False  # "E.T." with its dots, "MIB" in capitals; "et", "LA" (a place), "mib" are words
    if capitals and key in index.capital_initials:
        return Link(chosen.item_id, start, start + size, written, "exact", chosen.kind), True
    if chosen.kind == "stem" and start + size < len(c.ws) and c.fixed[start + size].isdigit():
        return None, False  # "star trek 2": a numbered member the catalog does not number
    # Other items count when their alias is about as strong: a stem shared with sequels is
    # no rival for the title itself.
    others = sorted({a.item_id for a in aliases if a.strength >= chosen.strength - 0.15} - {chosen.item_id})
    link = Link(
        chosen.item_id,
        start,
        start + size,
        c.message[c.ws[start].start : c.ws[start + size - 1].end],
        how,
        chosen.kind,
        others,
    )
    nxt = c.fixed[start + size] if start + size < len(c.ws) else ""
    if start and c.fixed[start - 1] in ("a", "an") and nxt in index.nouns:
        return None, False  # "a heist movie", "a road trip film": a kind of item, not a title
    words_ = key.split()
    if all(w.isdigit() for w in words_) and not re.search(r"\d\s*(?:/|½)", link.text):  # "8 1/2" is no count
        quoted = written_as_title(c.message, c.ws, start, size, 0.0) and re.search(
            r"[\"'“”]", c.message[max(0, c.ws[start].start - 1) : c.ws[start + size - 1].end + 1]
        )
        return (link, True) if quoted else (link, False)  # else only in a list of titles: see evidence
    # One real English word ("heist", "vibes", "sob") names a little-known item only with
    # evidence; a coined word ("shawshank") or a well-known item ("titanic") needs none.
    titled = written_as_title(c.message, c.ws, start, size, c.capitals)
    famous = not index.popularity or index.popularity.get(chosen.item_id, 0) >= index.famous
    plain = all(zipf(w) >= 3.0 or w in FUNCTION_WORDS for w in words_)
    # One plain word, or a phrase led by a preposition ("in the mood"), of an item few know.
    obscure = plain and not famous and (len(words_) == 1 or words_[0] in _PREPOSITIONS)
    if nxt == "of" and not famous and not titled:
        return None, False  # "the wizard of oz": the name goes on past this title
    kind_after = (
        nxt in index.nouns or nxt in index.everyday or re.sub(r"ies$", "y", nxt) in index.everyday
    ) and not c.message[
        c.ws[start + size - 1].end : c.ws[start + size].start
    ].strip()  # "heist movies", not "heist, thrillers"
    if (
        kind_after
        and plain
        and not famous
        and not titled
        and not (start and c.fixed[start - 1] in _CUES and not nxt.endswith("s"))
        and not own_facts_follow(index, c, link)  # "tower of lies fantasy, kai brandt"
    ):
        return None, False  # "more true crime movies", "submarine movies": a kind, not a title
    if (
        kind_after
        and len(words_) > 1
        and how != "partial"
        and plain
        and not titled
        and nxt in index.nouns
        and start
        and c.fixed[start - 1] not in _CUES | {"the"}
    ):
        return None, False  # "a slow road trip movie": everyday words before "movie" are a kind
    if words_[0] in _INDEFINITE and len(words_) <= 2 and not titled and year is None:
        return None, False  # "something wild and fun": a request's own words
    if how == "partial" and len(words_) > 1 and all(zipf(w) >= EVERYDAY_ONE for w in words_) and not titled:
        return link, False  # "two sisters" of "A Tale of Two Sisters": common words, evidence needed
    # "anchorman", "lebowski": a rare word names a well-known film by half its title;
    # "venice", "cartography" name no little-known book.
    one_word_stem = (
        chosen.kind == "stem"
        and " " not in key
        and not (zipf(key) < 3.0 and key not in index.name_parts and famous and index.popularity)
    )
    if (
        how == "partial"
        and " " not in key
        and not famous
        and not any(a.key.startswith(key + " ") for a in aliases if a.item_id == chosen.item_id)
    ):
        return None, False  # "cartography" ends "The Age of Cartography", a book few know
    if determined(index, c, link, key) and not titled and year is None and not own_facts_follow(index, c, link):
        return None, False  # "a volcano", "some thorns", "the fury of a mother": the words, not the title
    if not index.is_everyday(key) and not obscure and not one_word_stem:
        return link, True  # (a one-word stem, "Venice" of "Venice: Secrets and Rain", is no title alone)
    bang = (
        c.message[c.ws[start + size - 1].end : c.ws[start + size - 1].end + 1] == "!"
        and "!" in index.catalog[chosen.item_id].title
    )
    if (
        year is not None
        and all(w in FUNCTION_WORDS for w in words_)
        and c.fixed[start + size : start + size + 1] != [str(year)]
    ):
        year = None  # "the first one from 2000": only a year right after it makes "one" a title
    if year is not None or bang or (titled and not one_word_stem):
        return link, True  # (bang: "Them!" written with its own "!"; "Lisbon" is a place before a series)
    content = [w for w in words_ if w not in FUNCTION_WORDS]
    if own_facts_follow(index, c, link) and not (
        content and all(w in index.everyday or w.rstrip("s") in index.everyday for w in content)
    ):
        return link, True  # "her by spike jonze", "go from 1999 with katie holmes"
    if words_[0] in _OBJECT_WORDS and len(words_) == 1 and famous and how == "exact":
        return link, False  # "her", "up": a title only where grammar says so (object_title)
    if (
        how == "partial"
        or one_word_stem
        or all(w in FUNCTION_WORDS or w in index.everyday or w.rstrip("s") in index.everyday for w in key.split())
    ):
        return None, False  # "them", "up", "drama": never on their own say-so
    return link, False


def determined(index: TitleIndex, c: LinkContext, link: Link, key: str) -> bool:
    """Whether dictionary words of a title follow a determiner that is not the title's own ("a
    volcano", "my in-laws", "the embers of a campfire" where the title is "Embers"): then they are
    the sentence's words."""
    prev = c.fixed[link.start - 1] if link.start else ""
    if prev not in _DETERMINERS and prev != "the":
        return False
    if re.search(r"[,;:.!?()\"]", c.message[c.ws[link.start - 1].end : c.ws[link.start].start]):
        return False  # "like that? the right stuff": the word before is the last sentence's
    if not all(zipf(w) >= 2.5 or w in FUNCTION_WORDS or w.isdigit() for w in key.split()):
        return False  # "a shawshank kind of night": a coined word is still the title
    title = index.catalog[link.item_id].title
    own = " " + " ".join(w for w in normalize(_split_title(title)[0] or title).split() if w != "s") + " "
    # "the worlds end" is "The World's End" written without its apostrophe
    span = [
        w[:-1] if w.endswith("s") and f" {w[:-1]} " in own else w for w in c.fixed[link.start : link.end] if w != "s"
    ]
    return f" {prev} {' '.join(span)} " not in own


def evidence(index: TitleIndex, c: LinkContext, link: Link, found: list[Link], mates: list[Link] | None = None) -> bool:
    """Whether everyday words in lower case are meant as a title: they end where a title
    would (the message, a clause, "was", "with"...) and begin after a word that introduces
    one ("loved", "like", "than"), with the title's own article ("the graduate"), beside
    another title ("heat, seven and the usual suspects"), or, for a well-known item of
    several words, after a pause ("die hard is a christmas movie")."""
    ws, start, end = c.ws, link.start, link.end
    if all(w.isdigit() for w in c.fixed[start:end]):  # "blade runner, 2001, alien": a number in a list of titles
        number = int(c.fixed[start])
        return (
            not (start and c.fixed[start - 1] in _YEAR_WORDS)
            and not any(abs(index.years.get(f.item_id, -99) - number) <= 1 for f in found)
            and not any(f.end <= start and c.fixed[f.end - 1].isdigit() for f in found)  # "part 2 or 3": a sibling
            and listed(c, link, found)
        )
    if end - start == 1 and c.fixed[start] in _OBJECT_WORDS:
        return object_title(index, c, link, found)
    if c.fixed[end - 1] in _PRONOUNS:
        return False  # "watch it", "stand by me": only written as a title
    if own_facts_follow(index, c, link):
        return True  # "honey by caleb alvarez", "light (amara nakamura, 2022)"
    size = len(_key(c.fixed[start:end]).split())
    if size >= 5:
        return True  # "the field at the end of the field": a long title is no accident
    if c.fixed[start] in _INDEFINITE or (end - start == 1 and c.fixed[start] in _ADVERBS):
        return False  # "something wild and fun", "what should i watch next": the sentence's own words
    if offered_alone(index, c, link):
        return True  # "anything else about space like that? the right stuff maybe?"
    nxt = ws[end].text if end < len(ws) else ""
    gap_after = c.message[ws[end - 1].end : ws[end].start] if end < len(ws) else ""
    if end < len(ws) and not (
        nxt in _ENDS
        or re.search(r"[,;:.!?()\"<>/+]|\s[-–—]\s", gap_after)
        or re.fullmatch(r"(1[89]|20)\d\d", nxt)
        or any(f.start == end and f.kind != "stem" for f in found)  # "seen wall-e ratatouille and finding nemo"
    ):
        return False
    if qualified(c, link) or any(same_series(index, f.item_id, link.item_id) for f in found):
        return True  # "is stalker (the tarkovsky one) any less slow", "alien or aliens?"
    prev = ws[start - 1].text if start else ""
    gap_before = c.message[ws[start - 1].end : ws[start].start] if start else ""
    paused = not start or bool(re.search(r"[,;:.!?()\"]", gap_before))
    if prev in _CUES or (start >= 2 and (ws[start - 2].text, prev) in _CUE_PAIRS):
        return True
    if prev == "is" and asked(c, end) and (start < 2 or c.fixed[start - 2] not in FUNCTION_WORDS):
        return True  # "is small kings as good?", "is stalker any less slow"
    known = index.popularity.get(link.item_id, 0)
    own = [a for a in index.by_key.get(" ".join(c.fixed[start:end]), ()) if a.item_id == link.item_id]
    if (
        c.fixed[start] in ("the", "a", "an")
        and any(a.kind in ("title", "alternate", "stem") for a in own)
        and known >= index.known
    ):
        return True  # the title's own article, written: "the graduate", "the game"
    if listed(c, link, found + (mates or [])):
        return True  # (``mates``: unconfirmed members of its series, "alien or aliens?")
    if size >= 4:
        return True  # "i know what you did last summer was cheesy"
    if start == 0 and end == len(ws) and (known >= index.known or not index.popularity):
        return True  # the whole message is the title: "titanic"
    ends_here = not nxt or nxt in ("with", "by", "was", "is") or bool(re.search(r"[,;:.!?(]", gap_after))
    # "fargo, but funnier", "michael with john travolta": a title opening the message
    if start == 0 and ends_here and known >= index.known:
        return True
    return size > 1 and paused and known >= index.popular


def object_title(index: TitleIndex, c: LinkContext, link: Link, found: list[Link]) -> bool:
    """Whether "her", "up", "them", "us" (words no clause has as its subject and nobody owns) name
    a well-known title: owned ("pixar's up", "spike jonze's her"), the subject of a sentence ("up
    made me cry", "... so sad. her was better"), or one of a list of titles, ending where it does
    ("ex machina, her, moon", "up > finding nemo"). Not "what's up", "cheer me up", "and her kids"."""
    ws, start, end = c.ws, link.start, link.end
    nxt = c.fixed[end] if end < len(ws) else ""
    gap_after = c.message[ws[end - 1].end : ws[end].start] if end < len(ws) else ""
    closes = not nxt or bool(re.search(r"[,;:.!?()>/]|\s[-–—]\s", gap_after))
    ends = closes or nxt in ("and", "or", "is", "was", "made", "has", "had", "with", "by")
    gap_before = c.message[ws[start - 1].end : ws[start].start] if start else "."
    if start >= 2 and c.fixed[start - 1] == "s" and c.fixed[start - 2] not in _NOT_OWNERS and ends:
        owner = c.fixed[start - 2]
        return owner in index.name_parts or zipf(owner) < 4.0 or c.message[ws[start - 2].start].isupper()
    if (not start or re.search(r"[.!?]", gap_before)) and nxt in _SUBJECT_VERBS:
        return True
    return (closes or nxt in ("and", "or")) and listed(c, link, found)


def listed(c: LinkContext, link: Link, found: list[Link]) -> bool:
    """Whether the link is one of a list of titles: "heat, seven and the usual suspects",
    "up > finding nemo > ratatouille"."""
    ws, start, end = c.ws, link.start, link.end
    nxt = ws[end].text if end < len(ws) else ""
    gap_after = c.message[ws[end - 1].end : ws[end].start] if end < len(ws) else ""
    in_list = not nxt or nxt in ("and", "or") or bool(re.search(r"[,;:.!?&>/+\-–]", gap_after))
    for other in found:
        between = (
            c.message[ws[other.end - 1].end : ws[start].start]
            if other.end <= start
            else c.message[ws[end - 1].end : ws[other.start].start]
            if other.start >= end
            else None
        )
        if between is None or not _LIST_GAP.fullmatch(between):
            continue
        # inside the list its items are followed by a comma or "and"; its last after "and", or
        # after a comma once two came before ("casablanca, citizen kane, vertigo done")
        if in_list or (
            other.end <= start
            and (
                re.search(r"\b(?:and|or|vs)\b|[&>/+]", between)
                or ("," in between and sum(f.end <= start for f in found) >= 2)
            )
        ):
            return True
    return False


def drop_asides(index: TitleIndex, c: LinkContext, found: list[Link]) -> list[Link]:
    """After a title, common lower-case words that happen to be a title are the user talking
    about it ("slumdog millionaire, indian movie with the quiz show", "cast away, wilson!!",
    "das boot, submarine movies please"). A later title of common words stays only with a
    sign that it is one: written as a title, dated, its people or a cue word beside it, or a
    list of titles."""
    found = sorted(found, key=lambda f: f.start)
    return [f for n, f in enumerate(found) if n == 0 or not aside(index, c, f, found)]


def aside(index: TitleIndex, c: LinkContext, link: Link, found: list[Link]) -> bool:
    start, end = link.start, link.end
    span = c.fixed[start:end]
    if not all(zipf(w) >= ASIDE_ZIPF or w in FUNCTION_WORDS or w.isdigit() for w in span) or end - start >= 4:
        return False  # a coined word ("zoolander"), or a long title: no accident
    year = c.years.get(end)
    if year is not None and abs(index.years.get(link.item_id, -99) - year) <= 1:
        return False
    prev = c.fixed[start - 1] if start else ""
    if (
        (prev in _CUES and prev != "as")
        or set(c.fixed[max(0, start - 3) : start]) & _NEAR_CUES
        or prev in ("but", "not", "nor", "or", "except", "then")
        or (start >= 2 and (c.fixed[start - 2], prev) in _CUE_PAIRS)
        or (prev == "is" and asked(c, end))
    ):
        return False
    if written_as_title(c.message, c.ws, start, end - start, c.capitals) or own_facts_follow(index, c, link):
        return False
    if qualified(c, link) or any(same_series(index, f.item_id, link.item_id) for f in found if f.start < start):
        return False  # "speed was peak keanu. speed 2 tho", "is stalker (the tarkovsky one) any good"
    if offered_alone(index, c, link):
        return False
    gap_before = c.message[c.ws[start - 1].end : c.ws[start].start] if start else ","
    gap_after = c.message[c.ws[end - 1].end : c.ws[end].start] if end < len(c.ws) else ","
    nxt = c.fixed[end] if end < len(c.ws) else ""
    if "," in gap_before and ("," in gap_after or nxt in ("and", "or")):
        return False  # between commas, as a list's items are: "star wars obviously, blade runner, 2001"
    if end - start == 1 and not re.search(r"[,;:.!?()&>/+]", gap_before) and prev not in ("and", "or", "vs"):
        found = [f for f in found if f.start < start]  # "ever made, dark knight rises": no list starts mid-phrase
    return not listed(c, link, found)


# Words that may stand between a person written before a title and the title: "cronenberg's the
# fly", "tom hanks in big", "the gus van sant psycho", "kubrick's film the shining".
_CREDIT_GAP = frozenset("s in the a an movie film book novel version".split())


def own_facts_follow(index: TitleIndex, c: LinkContext, link: Link) -> bool:
    """Whether a value of the item's own fields (an author, a director, its year) is written
    within a few words after it, or just before it ("spike jonze's her", "tom hanks in big",
    "the 1989 batman"). Before a title only a possessive allows a bare surname ("carpenter's
    halloween"): "with her" after "a carpenter" is no credit."""
    after = " " + " ".join(c.fixed[link.end : link.end + 8]) + " "
    if any(f" {v} " in after for v in index.facts_of(link.item_id)):
        return True
    n = link.start
    while n > 0 and link.start - n < 3 and c.fixed[n - 1] in _CREDIT_GAP:
        n -= 1
    if n == 0:
        return False
    possessive = "s" in c.fixed[n : link.start]
    before = " " + " ".join(c.fixed[max(0, n - 4) : n]) + " "
    facts = index.facts_of(link.item_id, loose=possessive)
    if all(w in FUNCTION_WORDS for w in c.fixed[link.start : link.end]):
        facts = [v for v in facts if not v.isdigit()]  # "the 2001 one" dates a film already named
    return any(before.endswith(f" {v} ") for v in facts)

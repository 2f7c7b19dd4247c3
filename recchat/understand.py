"""Understanding a chat message by rules: titles, genres, eras, negations, critiques.

The rules always work (no LLM needed). ``extract_with_llm`` asks the LLM for the same facts as
JSON (schema-constrained on vLLM and vLLM servers, validated here everywhere) and ``merge`` adds
what the rules missed; the rules win on any conflict, and an unusable LLM answer changes nothing.
What the rules find:

- titles, resolved against the catalog: case, punctuation, leading articles ("the matrix"),
  sequel numbers ("Godfather 2" = "The Godfather: Part II") and typos (fuzzy matching);
- genres from the catalog's own genre names plus common synonyms ("sci fi", "cartoon", "scary");
- eras: "80s", "the 1990s", "before 1970", "after 1990", "recent";
- negations: "no horror", "not a comedy", "nothing scary", "without violence";
- critiques of the last list: "not that one", "something older", "newer", "I've seen it",
  "more like the second one".
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from recchat.catalog import Catalog

_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8"}
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
             "fifth": 5, "5th": 5, "last": -1}
GENRE_SYNONYMS = {
    "sci fi": "Sci-Fi", "scifi": "Sci-Fi", "science fiction": "Sci-Fi", "space": "Sci-Fi",
    "cartoon": "Animation", "cartoons": "Animation", "animated": "Animation", "anime": "Animation",
    "kids": "Children's", "children": "Children's", "family": "Children's", "childrens": "Children's",
    "scary": "Horror", "horror": "Horror", "funny": "Comedy", "comedies": "Comedy", "romantic": "Romance",
    "love story": "Romance", "noir": "Film-Noir", "film noir": "Film-Noir", "musicals": "Musical",
    "westerns": "Western", "thrillers": "Thriller", "documentaries": "Documentary", "mysteries": "Mystery",
    "crime": "Crime", "war": "War", "action": "Action", "adventure": "Adventure", "fantasy": "Fantasy",
    "drama": "Drama", "dramas": "Drama",
}
# "less violent" and friends: genres to avoid.
SOFTENERS = {"violent": ("Action", "Crime", "War", "Horror"), "violence": ("Action", "Crime", "War", "Horror"),
             "dark": ("Horror", "Film-Noir", "Thriller"), "sad": ("Drama", "War"), "scary": ("Horror",)}
_STOP = {"i", "a", "an", "the", "and", "or", "but", "it", "its", "me", "my", "like", "loved", "love", "liked",
         "something", "some", "movie", "movies", "film", "films", "more", "less", "want", "watch", "seen",
         "your", "our", "his", "her", "their", "with", "to", "for", "in", "on", "at", "of", "you", "we",
         "tonight", "please", "one", "good", "night", "day", "time", "home", "family", "friends", "man"}


def _written_as_title(message: str, words: list[str]) -> bool:
    """Whether the user capitalised or quoted the phrase: needed for titles made of everyday words
    ("My Family" is a film, "with my family" is not)."""
    pattern = r"\W+".join(re.escape(w) for w in words)
    m = re.search(pattern, message, flags=re.IGNORECASE)
    if not m:
        return True  # normalisation changed the words (digits for roman numerals...): not everyday text
    span = message[m.start():m.end()]
    quoted = message[max(0, m.start() - 1):m.start()] in ("'", '"') or message[m.end():m.end() + 1] in ("'", '"')
    return quoted or any(ch.isupper() for ch in span)


def normalize_title(text: str) -> str:
    """Lower case, accents and punctuation gone, a leading article dropped, sequels as digits."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"\(\d{4}\)", " ", text.lower())
    text = re.sub(r"\bpart\b", " ", text)
    text = re.sub(r"[^a-z0-9 ]+", " ", text)
    words = [_ROMAN.get(w, w) for w in text.split()]
    if words and words[0] in ("the", "a", "an"):
        words = words[1:]
    return " ".join(words)


@dataclass
class Understanding:
    """What one message says. Genres are catalog genre names; years are inclusive bounds."""

    titles: list[str] = field(default_factory=list)          # item ids, in mention order
    liked: list[str] = field(default_factory=list)
    disliked: list[str] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)
    avoid_genres: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    critiques: list[str] = field(default_factory=list)       # "older", "newer", "reject", "seen", "more_like"
    refers_to: list[int] = field(default_factory=list)       # 1-based positions in the last list; -1 = last
    wish: str = ""
    llm: str = "off"        # the LLM extraction: "off", "used", "nothing new" or "unusable: <why>"


class TitleResolver:
    """Finds catalog titles in free text, tolerant of case, articles, sequel numbers and typos.

    With ``index`` (the catalog's Chroma :class:`~recchat.index.ItemIndex`), a title that no
    spelling rule matches is looked up by meaning: the nearest items' titles are accepted when
    all their words occur in the text ("Star Wars: A New Hope" -> Star Wars). The LLM's extracted
    titles go through :meth:`resolve`, which is where this helps.
    """

    def __init__(self, catalog: Catalog, cutoff: float = 0.86, index: Any = None):
        self.cutoff, self.index = cutoff, index
        self.by_norm: dict[str, list[str]] = {}
        for item in catalog:
            if item.title:
                self.by_norm.setdefault(normalize_title(item.title), []).append(item.id)
        # Earliest id first when two items share a normalised title (a remake, a duplicate entry).
        self.norms = sorted(self.by_norm, key=len, reverse=True)
        self.max_words = max((len(n.split()) for n in self.by_norm), default=1)

    def resolve(self, text: str) -> str | None:
        """The item id whose title best matches ``text`` alone, or None."""
        norm = normalize_title(text)
        if not norm:
            return None
        if norm in self.by_norm:
            return self.by_norm[norm][0]
        close = difflib.get_close_matches(norm, self.norms, n=1, cutoff=self.cutoff)
        if close:
            return self.by_norm[close[0]][0]
        return self._nearest(text, norm) if self.index is not None else None

    def _nearest(self, text: str, norm: str) -> str | None:
        words = set(norm.split())
        try:
            hits = self.index.query(text, k=3)
        except Exception:  # the index is a help here, never a requirement
            return None
        for hit in hits:
            title_words = set(normalize_title(hit.item.title).split())
            if title_words and title_words <= words and hit.item.id in self.by_norm.get(
                    normalize_title(hit.item.title), []):
                return hit.item.id
        return None

    def find(self, message: str) -> list[tuple[str, int, int]]:
        """(item id, start word, end word) for titles mentioned in ``message``, longest first."""
        words = normalize_title("x " + message).split()[1:]  # keep a leading article in the text
        found: list[tuple[str, int, int]] = []
        taken: set[int] = set()
        for size in range(min(self.max_words, len(words)), 0, -1):
            for start in range(0, len(words) - size + 1):
                span = range(start, start + size)
                if taken & set(span):
                    continue
                chunk = words[start:start + size]
                if size == 1 and (chunk[0] in _STOP or len(chunk[0]) < 4 or chunk[0].isdigit()):
                    continue
                phrase = " ".join(w for w in chunk)
                item_id = self.by_norm[phrase][0] if phrase in self.by_norm else None
                # Fuzzy only on spans that start and end on a content word: "godfather no" must
                # not drift to "godfather 2".
                if item_id is None and size >= 2 and len(phrase) >= 8 and chunk[0] not in _STOP \
                        and chunk[-1] not in _STOP and chunk[-1] not in ("no", "not"):
                    close = difflib.get_close_matches(phrase, self.norms, n=1, cutoff=self.cutoff)
                    item_id = self.by_norm[close[0]][0] if close else None
                # Everyday words and genre words ("kids", "crime") name a film only when the user
                # writes them as a title.
                ordinary = all(w in _STOP or w in GENRE_SYNONYMS or w.rstrip("s") in GENRE_SYNONYMS for w in chunk)
                if item_id is not None and ordinary and not _written_as_title(message, chunk):
                    item_id = None
                if item_id is not None:
                    found.append((item_id, start, start + size))
                    taken |= set(span)
        return sorted(found, key=lambda f: f[1])


_NEGATION = r"(?:no|not|without|nothing|never|hate|hated|dislike|disliked|avoid|except)"


def _genres_in(text: str, vocabulary: Iterable[str]) -> list[tuple[str, int]]:
    """(genre, character position) for each genre word or synonym in ``text``."""
    names = {g.lower(): g for g in vocabulary}
    names.update({k: v for k, v in GENRE_SYNONYMS.items() if v in set(vocabulary)})
    hits = []
    for phrase, genre in names.items():
        for m in re.finditer(rf"\b{re.escape(phrase)}s?\b", text):
            hits.append((genre, m.start()))
    return hits


def understand(message: str, resolver: TitleResolver, genres: Iterable[str], *, this_year: int = 1998) -> Understanding:
    """Rule-based reading of one message. ``this_year`` anchors "recent" (MovieLens ends in 1998)."""
    text = " " + message.lower() + " "
    out = Understanding(wish=message.strip())
    vocabulary = list(genres)

    titles = resolver.find(message)
    words = normalize_title("x " + message).split()[1:]
    in_titles = {n for _, start, end in titles for n in range(start, end)}
    # Genre words inside a title are not wishes: "Star Wars" asks for no war film.
    genre_text = " " + " ".join(w for n, w in enumerate(words) if n not in in_titles) + " "
    for genre, pos in _genres_in(genre_text, vocabulary):
        before = genre_text[max(0, pos - 25):pos]
        negated = re.search(rf"\b{_NEGATION}\b[\w\s']*$", before) and not re.search(r"\b(but|and)\b", before.split("no")[-1])
        bucket = out.avoid_genres if negated else out.genres
        if genre not in bucket:
            bucket.append(genre)
    out.genres = [g for g in out.genres if g not in out.avoid_genres]
    for word, avoid in SOFTENERS.items():
        if re.search(rf"\b(less|not|no|nothing|without|too)\s+(so\s+)?{word}\b", text):
            out.avoid_genres += [g for g in avoid if g in vocabulary and g not in out.avoid_genres]

    decade = re.search(r"\b(?:the\s+)?(?:19)?([2-9]0)'?s\b", text)
    if decade:
        start = 1900 + int(decade.group(1))
        out.year_min, out.year_max = start, start + 9
    m = re.search(r"\b(?:before|older than|earlier than|pre)[\s-]+(\d{4})\b", text)
    if m:
        out.year_max = int(m.group(1)) - 1
    m = re.search(r"\b(?:after|newer than|later than|since|post)[\s-]+(\d{4})\b", text)
    if m:
        out.year_min = int(m.group(1)) + (0 if "since" in m.group(0) else 1)
    if re.search(r"\b(recent|latest|new releases?)\b", text):
        out.year_min = this_year - 3

    if re.search(r"\b(older|earlier|classic|less recent)\b", text):
        out.critiques.append("older")
    if re.search(r"\b(newer|more recent|modern)\b", text):
        out.critiques.append("newer")
    if re.search(r"\b(not (that|this) one|don'?t like (that|this|it)|no thanks|something else|not for me)\b", text):
        out.critiques.append("reject")
    if re.search(r"\b(i'?ve seen|already seen|seen (it|that|this)|watched (it|that|this))\b", text):
        out.critiques.append("seen")
    if re.search(r"\bmore like\b", text):
        out.critiques.append("more_like")
    for word, position in _ORDINALS.items():
        if re.search(rf"\bthe {word}( one)?\b", text):
            out.refers_to.append(position)

    for item_id, start, _ in titles:
        out.titles.append(item_id)
        before = " ".join(words[max(0, start - 4):start])
        target = out.disliked if re.search(rf"\b{_NEGATION}\b", before) else out.liked
        target.append(item_id)
    return out


EXTRACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "liked": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "disliked": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "genres": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
        "avoid_genres": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
        "year_min": {"type": ["integer", "null"]},
        "year_max": {"type": ["integer", "null"]},
    },
    "required": ["liked", "disliked", "genres", "avoid_genres", "year_min", "year_max"],
    "additionalProperties": False,
}


class ExtractionError(ValueError):
    """The LLM's answer is not the JSON the schema asks for."""


def parse_extraction(text: str, resolver: TitleResolver, genres: Iterable[str]) -> Understanding:
    """Validate an LLM answer against :data:`EXTRACT_SCHEMA` and map it onto the catalog.

    Titles that resolve to no catalog item and genres outside the catalog's vocabulary are
    dropped; a non-object, a wrong type or an impossible year raises :class:`ExtractionError`.
    """
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ExtractionError("no JSON object in the answer")
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError as exc:
        raise ExtractionError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ExtractionError("the JSON is not an object")
    unknown = set(data) - set(EXTRACT_SCHEMA["properties"])
    if unknown:
        raise ExtractionError(f"unexpected key(s): {', '.join(sorted(unknown))}")
    out = Understanding(llm="used")
    vocabulary = {g.lower(): g for g in genres}
    vocabulary.update({k: v for k, v in GENRE_SYNONYMS.items() if v in vocabulary.values()})
    for key in ("liked", "disliked", "genres", "avoid_genres"):
        values = data.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ExtractionError(f"'{key}' is not a list of strings")
        for value in values:
            if key in ("liked", "disliked"):
                found = resolver.resolve(value)
            else:
                found = vocabulary.get(value.strip().lower()) or vocabulary.get(value.strip().lower().rstrip("s"))
            bucket = getattr(out, key)
            if found and found not in bucket:
                bucket.append(found)
    for key in ("year_min", "year_max"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1870 <= value <= 2100:
            raise ExtractionError(f"'{key}' is not a plausible year: {value!r}")
        setattr(out, key, value)
    return out


def merge(rules: Understanding, llm: Understanding) -> Understanding:
    """The rules' reading plus what only the LLM found; on any conflict the rules win."""
    out = replace(rules, titles=list(rules.titles), liked=list(rules.liked), disliked=list(rules.disliked),
                  genres=list(rules.genres), avoid_genres=list(rules.avoid_genres))
    added = False
    for key, opposite in (("liked", "disliked"), ("disliked", "liked"), ("genres", "avoid_genres"),
                          ("avoid_genres", "genres")):
        mine, theirs = getattr(out, key), getattr(out, opposite)
        for value in getattr(llm, key):
            if value not in mine and value not in theirs and value not in getattr(rules, opposite):
                mine.append(value)
                added = True
    out.titles += [t for t in out.liked + out.disliked if t not in out.titles]
    for key in ("year_min", "year_max"):
        if getattr(out, key) is None and getattr(llm, key) is not None:
            setattr(out, key, getattr(llm, key))
            added = True
    if out.year_min is not None and out.year_max is not None and out.year_min > out.year_max:
        out.year_min, out.year_max = rules.year_min, rules.year_max  # an LLM year that contradicts the rules
    out.llm = "used" if added else "nothing new"
    return out


def extract_with_llm(backend: Any, message: str, resolver: TitleResolver, genres: Iterable[str], *,
                     kind: str = "item", max_tokens: int = 96) -> Understanding:
    """The LLM's structured reading of ``message``; raises ExtractionError (or LLMError)."""
    from recchat.templates import load_template

    template = load_template("extract")
    vocabulary = sorted(genres)
    prompt = template.prefix(kind=kind, genres=vocabulary) + template.suffix(message=message)
    text = backend.generate([prompt], max_tokens=max_tokens, json_schema=EXTRACT_SCHEMA)[0]
    return parse_extraction(text, resolver, vocabulary)

"""MovieLens-100K enriched with film facts from Wikidata: the ``movielens-100k-enriched`` asset.

MovieLens-100K knows a film's title, year and genres only. The ``omdb`` table that
bokeh-sampledata ships (17,472 films of 1940-2014, CC0-1.0, "Wikidata contributors"; derived into
``films.csv`` by :mod:`recchat.assets`) adds director, cast, runtime, language and country. This
module joins the two, once, when the asset is fetched:

- :func:`title_keys` normalises a title into the keys it may be matched by: accents folded, "&"
  read as "and", punctuation dropped, a trailing article moved to the front ("Usual Suspects,
  The"), and each parenthesised alternate or "a.k.a." name as a key of its own ("Seven
  (Se7en)", "Nikita (La Femme Nikita)"); :func:`subtitle_keys` adds weaker keys, the parts of a
  title around a ":" or a dash ("Il Postino: The Postman");
- :func:`match_films` pairs each MovieLens item with the film that shares a key and whose year is
  within one of the item's (:data:`MATCH_RULES` says the order of preference; several films
  still tied: the best-known, by critic reviews, and the case is reported as ambiguous);
- :func:`write_enriched` writes ``items.csv`` (the MovieLens items, in their order, with the
  film's facts; empty where no film matched) and ``match-report.json``, and returns the report.

The interaction log stays MovieLens's own (same item ids). This module is foundation layer: it
imports nothing from recchat, so :mod:`recchat.assets` can call it.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ITEM_COLUMNS = (
    "item_id",
    "title",
    "year",
    "genres",
    "director",
    "cast",
    "runtime",
    "language",
    "country",
    "film_id",
)
# The facts taken from the film, in items.csv's order; lists are "|"-separated as in films.csv.
FACTS = ("director", "cast", "runtime", "language", "country")
# Articles a title may carry at its end ("Blaue Engel, Der") or start; only English ones are
# dropped from the front of a key (a leading "Die" or "La" is often a word of the title).
_ARTICLES = "the|a|an|le|la|les|l'|il|lo|gli|el|los|las|der|die|das|den|det|de|het|un|une|uno|una|ein|eine"
_TRAILING = re.compile(rf"^(?P<body>.+?),\s*(?P<art>{_ARTICLES})\s*$", re.IGNORECASE)
_LEADING_EN = re.compile(r"^(?:the|a|an)\s+")
_PAREN = re.compile(r"\s*\(([^()]*)\)")
_AKA = re.compile(r"^\s*(?:a\.?\s?k\.?\s?a\.?|also known as|aka)\s+", re.IGNORECASE)
MATCH_RULES = (
    "titles normalised (accents folded, '&' = 'and', punctuation and case ignored, a trailing "
    "article moved to the front); each parenthesised alternate and 'a.k.a.' name is a key too, "
    "and, weaker, each part of two words or more around a ':' or a dash; a film matches when a "
    "key is equal and its year is within 1 of the MovieLens year (the same year where a leading "
    "'the', 'a' or 'an' had to be dropped); the MovieLens title wins over an alternate, an "
    "alternate over a part, then the closest year, then (still tied: ambiguous, reported) the "
    "film with the most critic reviews"
)


def _fold(text: str) -> str:
    """Lower case, accents folded, "&" as "and", punctuation as spaces, one space between words."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = text.replace("&", " and ").replace("'", "")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def _key(title: str) -> str:
    title = title.strip()
    m = _TRAILING.match(title)
    if m:
        article = m["art"]
        title = article + ("" if article.endswith("'") else " ") + m["body"]
    return _fold(title)


def _loose(keys: list[str]) -> list[str]:
    """The keys without a leading English article, where that changes them."""
    return [d for k in keys if (d := _LEADING_EN.sub("", k)) and d != k]


def title_keys(title: str) -> list[str]:
    """The keys a title is matched by: the title without its parentheses first, then each
    parenthesised alternate ("a.k.a." removed). "Horseman on the Roof, The (Hussard sur le toit,
    Le)" -> ["the horseman on the roof", "le hussard sur le toit"]."""
    alternates = [_AKA.sub("", m.group(1)) for m in _PAREN.finditer(title)]
    main = _PAREN.sub("", title)
    keys = [_key(t) for t in (main, *alternates) if t.strip()]
    return [k for k in dict.fromkeys(keys) if k]


# Words that say nothing of which film a part of a title names ("Gilligan's Island: The Movie").
_GENERIC = frozenset({"movie", "film", "the", "a", "an"})


def subtitle_keys(title: str) -> list[str]:
    """Weaker keys: each part of the title around a ":" or a dash, of two words or more besides a
    leading article and "movie" or "film" ("Il Postino: The Postman" -> "il postino"; "Star Trek
    II: The Wrath of Khan" -> "star trek ii", "the wrath of khan"; "...: The Movie" -> nothing)."""
    main = _PAREN.sub("", title)
    parts = re.split(r"\s*:\s*|\s+[-\u2013\u2014]+\s+", main)
    if len(parts) < 2:
        return []
    keys = [_key(p) for p in parts if p.strip()]
    return [k for k in dict.fromkeys(keys) if len(set(_LEADING_EN.sub("", k).split()) - _GENERIC) >= 2]


@dataclass(frozen=True)
class Film:
    """One row of films.csv: its id, title, year, critic reviews and the facts to take."""

    film_id: str
    title: str
    year: int | None
    reviews: int
    facts: dict[str, str]


@dataclass
class MatchReport:
    """Which MovieLens items found a film: item id -> film id, and what did not match."""

    matches: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)  # item ids with a year and no film
    undated: list[str] = field(default_factory=list)  # item ids without a year (never matched)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)  # item id -> the tied film ids
    by_alternate: list[str] = field(default_factory=list)  # item ids matched by an alternate title
    by_subtitle: list[str] = field(default_factory=list)  # item ids matched by a part of a title
    off_by_one: list[str] = field(default_factory=list)  # item ids matched a year off

    def summary(self) -> dict[str, object]:
        dated = len(self.matches) + len(self.unmatched)
        return {
            "rules": MATCH_RULES,
            "items": dated + len(self.undated),
            "dated": dated,
            "matched": len(self.matches),
            "unmatched": len(self.unmatched),
            "undated": len(self.undated),
            "ambiguous": len(self.ambiguous),
            "matched_by_alternate_title": len(self.by_alternate),
            "matched_by_title_part": len(self.by_subtitle),
            "matched_a_year_off": len(self.off_by_one),
        }


def match_films(items: list[tuple[str, str, int | None]], films: list[Film]) -> MatchReport:
    """Match ``items`` ((id, title, year) each) to ``films`` by :func:`title_keys` and year +-1."""
    by_key: dict[str, list[tuple[Film, int, bool]]] = {}
    for film in films:
        full, parts = title_keys(film.title), subtitle_keys(film.title)
        for names, rank in ((full, 0), (parts, 2)):
            for key in names:
                by_key.setdefault(key, []).append((film, rank, False))
            for key in _loose(names):
                by_key.setdefault(key, []).append((film, rank, True))
    report = MatchReport()
    for item_id, title, year in items:
        if year is None:
            report.undated.append(item_id)
            continue
        ranked: dict[str, tuple[int, int, Film]] = {}
        own, halves = title_keys(title), subtitle_keys(title)
        keys = [(k, min(n, 1), False) for n, k in enumerate(own)] + [(k, 2, False) for k in halves]
        keys += [(k, 0, True) for k in _loose(own[:1])] + [(k, 2, True) for k in _loose(own[1:] + halves)]
        for key, rank, loose in keys:
            for film, weak, loose_too in by_key.get(key, ()):
                off = abs(film.year - year) if film.year is not None else 99
                if off > 1 or (off and (loose or loose_too)):
                    continue  # a year off only where the titles agree article and all
                score = (max(rank, weak), off)
                if film.film_id not in ranked or score < ranked[film.film_id][:2]:
                    ranked[film.film_id] = (*score, film)
        if not ranked:
            report.unmatched.append(item_id)
            continue
        best = min(v[:2] for v in ranked.values())
        tied = sorted((v[2] for v in ranked.values() if v[:2] == best), key=lambda f: (-f.reviews, f.film_id))
        if len(tied) > 1:
            report.ambiguous[item_id] = [f.film_id for f in tied]
        report.matches[item_id] = tied[0].film_id
        if best[0] == 1:
            report.by_alternate.append(item_id)
        elif best[0] == 2:
            report.by_subtitle.append(item_id)
        if best[1]:
            report.off_by_one.append(item_id)
    return report


def read_films(path: Path) -> list[Film]:
    """films.csv (see :data:`recchat.assets.FILMS_COLUMNS`) as :class:`Film` rows."""
    with open(path, encoding="utf-8", newline="") as fh:
        return [
            Film(
                row["film_id"],
                row["title"],
                int(row["year"]) if row["year"].isdigit() else None,
                int(row["reviews"]) if row["reviews"].isdigit() else 0,
                {k: row[k] for k in FACTS},
            )
            for row in csv.DictReader(fh)
        ]


def read_movielens_items(path: Path) -> list[dict[str, str]]:
    """ML-100K's RecBole atomic item file: item_id, title, year and genres ("|"-separated)."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = [h.split(":")[0] for h in rows[0]]
    out = []
    for values in rows[1:]:
        row = dict(zip(header, values, strict=False))
        out.append(
            {
                "item_id": row["item_id"],
                "title": row.get("movie_title", ""),
                "year": row.get("release_year", ""),
                "genres": "|".join((row.get("class") or "").split()),
            }
        )
    return out


def _by_credits(names: str, credits: Counter[str]) -> str:
    """A "|" list ordered by how many films of the whole table credit each name (the table's own
    order is alphabetical), so a template that shows the first few shows the best known."""
    people = [n for n in names.split("|") if n]
    return "|".join(sorted(people, key=lambda n: (-credits[n], n)))


def write_enriched(item_file: Path, films_csv: Path, out: Path) -> MatchReport:
    """Write ``out/items.csv`` and ``out/match-report.json`` from ML-100K's item file and films.csv."""
    films = read_films(films_csv)
    items = read_movielens_items(item_file)
    report = match_films(
        [(it["item_id"], it["title"], int(it["year"]) if it["year"].isdigit() else None) for it in items],
        films,
    )
    by_id = {f.film_id: f for f in films}
    credits = Counter(n for f in films for n in f.facts["cast"].split("|") if n)
    with open(out / "items.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(ITEM_COLUMNS)
        for it in items:
            film = by_id.get(report.matches.get(it["item_id"], ""))
            facts = dict(film.facts) if film else dict.fromkeys(FACTS, "")
            facts["cast"] = _by_credits(facts["cast"], credits)
            writer.writerow(
                [it["item_id"], it["title"], it["year"], it["genres"], *(facts[k] for k in FACTS)]
                + [film.film_id if film else ""]
            )
    titles = {it["item_id"]: f"{it['title']} ({it['year'] or '?'})" for it in items}
    detail = {
        **report.summary(),
        "ambiguous_cases": {
            titles[i]: [f"{by_id[f].title} ({by_id[f].year}) {f}" for f in fs] for i, fs in report.ambiguous.items()
        },
        "unmatched_titles": [titles[i] for i in report.unmatched],
    }
    (out / "match-report.json").write_text(json.dumps(detail, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


def notice(report: MatchReport, films_notice: str) -> str:
    """NOTICE.md of the enriched asset: both sources, the licence, attribution and the match report."""
    s = report.summary()
    return (
        "# movielens-100k-enriched\n\n"
        "MovieLens-100K (GroupLens Research, University of Minnesota; as shipped in RecBole 1.2.1's "
        "wheel: ml-100k.item, ml-100k.inter, ml-100k.user) joined with film facts from Wikidata.\n\n"
        "items.csv: MovieLens's items in their order and with their ids, titles, years and genres, plus "
        "director, cast, runtime (minutes), language and country of the matched Wikidata film "
        "(film_id = its Wikidata item id), empty where none matched. Lists are '|'-separated; cast is "
        "ordered by how many films of the Wikidata table credit each actor (the table's own order is "
        "alphabetical, not billing). The interactions (ml-100k.inter) are MovieLens's, unchanged.\n\n"
        f"## Match report\n\nRules: {s['rules']}.\n\n"
        f"- items: {s['items']} ({s['dated']} with a year, {s['undated']} without: never matched)\n"
        f"- matched: {s['matched']} of the {s['dated']} dated items "
        f"({s['matched_by_alternate_title']} by an alternate title, {s['matched_by_title_part']} by a part "
        f"of a title, {s['matched_a_year_off']} a year off)\n"
        f"- unmatched: {s['unmatched']}\n"
        f"- ambiguous (several films tied; the best-known taken): {s['ambiguous']}\n\n"
        "match-report.json lists the unmatched titles and the ambiguous cases.\n\n"
        "## The film facts (licence and attribution)\n\n" + films_notice.split("\n", 2)[-1].lstrip()
    )

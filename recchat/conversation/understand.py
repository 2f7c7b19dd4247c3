"""Understanding a chat message by rules: titles, facet values, years, ranges, series, references.

The rules always work (no LLM needed) and know no catalog in particular: what a message can ask
for comes from the :class:`~recchat.conversation.domain.Domain` (its facets with their synonyms and
avoid-words, the year field, the range fields and their units, the series).
:mod:`recchat.conversation.llm_extraction` asks the LLM for the same facts as JSON and merges in
what the rules missed; the rules win on any conflict. The rules live in
:mod:`~recchat.conversation.clauses` (clauses and negation), :mod:`~recchat.conversation.constraints`
(facet values, years, ranges) and :mod:`~recchat.conversation.references` (named items, series,
positions in the last list). What the rules find:

- titles, linked to the catalog by :class:`recchat.conversation.link.Linker` (aliases derived once per
  catalog: articles moved, alternates, subtitles, numbers, typos, partial titles, and guards on
  everyday words); a title that was a guess is kept in ``Understanding.took`` for the reply;
- facet values from the catalog's own values plus the domain's synonyms ("sci fi", "scary");
  a value's word inside a title is not a wish ("Star Wars" asks for no war film); values of one
  facet joined by "or" are alternatives ("history or biography", "a comedy or a romance"),
  joined by "and" all required;
- negations, clause by clause: "no horror, something funny", "nothing scary", "not Scream",
  "isn't a drama", "anything but drama", "other than horror", "except westerns", and the
  facets' avoid-words ("less violent"); "nothing but comedies" asks for comedies;
- series by name: "nothing from Star Trek", "no more Die Hard movies" keep every member out;
  "I've seen all the Godfather movies", "I watched every X film" make every member liked;
- years: "80s", "the 1990s", "before 1970", "after 1990", "from 1996", "between 1990 and 1995",
  "recent" (counted back from the domain's reference year), and years relative to a named item:
  "older than Fargo", "after Fargo", "from the same year as Fargo";
- ranges, in the field's unit: "under 300 pages", "over 500 pages", "between 200 and 400 pages";
  a larger unit converted ("under two hours" on a field in minutes), a negated bound turned
  round ("nothing over 150 minutes");
- people by last name where a people facet holds it clearly ("by Tarantino", "a Spielberg
  film"), and the facet a shared name means by its cue ("with Tarantino": the cast);
- critiques of the last list and references into it: "not that one", "something older",
  "newer", "I've seen it", "not the first one", "the third one looks good", "more like number 2",
  "the last one".
"""

from __future__ import annotations

import re

from recchat.conversation.clauses import Clauses
from recchat.conversation.constraints import Understanding, read_facets, read_ranges, read_years
from recchat.conversation.domain import Domain
from recchat.conversation.link import Linker
from recchat.conversation.references import read_references, read_seen_series, read_series, read_titles


def understand(message: str, resolver: Linker, domain: Domain) -> Understanding:
    """Rule-based reading of one message against the catalog's ``domain``."""
    out = Understanding(wish=message.strip())
    # "#2" and "no. 2" are list positions; as words they would be lost ("2") or read as a "no".
    message = re.sub(r"(?:#|\bno\.)\s*(\d)", r"number \1", message, flags=re.IGNORECASE)
    text = " " + message.lower() + " "
    msg = Clauses(message)

    if domain.year:
        read_years(text, domain, out)
        if re.search(r"\b(older|earlier|classic|less recent)\b(?!\s+than)", text):
            out.critiques.append("older")
        if re.search(r"\b(newer|more recent|modern)\b(?!\s+than)", text):
            out.critiques.append("newer")
    read_ranges(text, domain, out)
    links = resolver.link(message)
    titles = [(link.item_id, link.start, link.end) for link in links]
    out.took = [(link.text, link.item_id) for link in links if link.guessed]
    series = read_series(msg, domain, resolver)
    out.avoided_series = [name for name, _ in series]
    in_series = set().union(*(span for _, span in series), read_seen_series(msg, domain, out))
    read_titles(msg, titles, in_series, resolver, domain, out)  # after read_years: a named item's year is more specific
    # Facet words inside a title are not wishes: "Star Wars" asks for no war film.
    in_titles = {n for _, start, end in titles for n in range(start, end)}
    read_facets(msg, text, domain, in_titles | in_series, out)
    read_references(msg, domain, {msg.clause[start] for _, start, _ in titles}, out)
    if not _says_more(msg.words, in_titles | in_series, domain):
        out.wish = ""  # "I loved X and Y, something like them": the named items say it all
    return out


# Words that ask for nothing by themselves: what is left of "I loved X, something like them".
_FILLER = frozenset(
    "i me my we you it its them they those these that this the a an and or but so some something anything "
    "like liked love loved loves enjoyed adored really just also too very more please same similar kind sort "
    "stuff ones one other others again ve have has seen watched read all every each of to for with as "
    "recommend suggest give show want need would could can m s d ll t".split()
)


def _says_more(words: list[str], named: set[int], domain: Domain) -> bool:
    """Whether the message asks for something beyond the items and series it names."""
    nouns = {domain.item, domain.items, "movie", "movies", "film", "films", "book", "books"}
    return any(w not in _FILLER and w not in nouns for n, w in enumerate(words) if n not in named)

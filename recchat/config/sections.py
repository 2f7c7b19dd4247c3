"""The sections of a configuration file: one dataclass per TOML table (``[catalog]``,
``[catalog.fields]`` entries, ``[interactions]``, ``[index]``, ``[scorer]``, ``[llm]``,
``[blend]``, ``[domain]``), each named ``*Section``.

Every field carries its default and, on the same line, its help: the configuration reference is
generated from these classes, so a field's comment is its documentation (one line each).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recchat.data.catalog import DEFAULT_TEMPLATE, CatalogSpec, FieldSpec, InteractionSpec
from recchat.data.tables import TableOptions

ROLES = ("", "facet", "year", "range")


@dataclass
class FieldSection:
    """One typed item field (an entry of ``[catalog.fields]``): its column, type, list separator and role."""

    column: str = ""  # the column it is read from; default the field's own name
    type: str = "str"  # str, int, float or list
    sep: str = " "  # what separates a list field's values in the column
    strict: bool = True  # a value that does not parse is an error; false: left empty, with a warning
    role: str = ""  # "", "facet" (a list the user can ask for or exclude), "year" or "range" (a number with bounds)
    unit: str = ""  # words for a range field's values: "pages", "minutes"
    pattern: str = ""  # a regular expression: the value is its first match (or first group); none: empty
    columns: list[str] = field(default_factory=list)  # 0/1 flag columns read as one list field: those set to 1
    cues: list[str] = field(
        default_factory=list
    )  # words before a facet's value that mean this facet ("with", "by"): where two facets share a name


@dataclass
class TableSection:
    """How a table file is read (``[catalog]`` and ``[interactions]`` alike); ``recchat init`` guesses it."""

    path: str = ""  # a file (relative to the configuration's folder), or asset:<name>/<file> for a fetched asset
    format: str | None = None  # csv, jsonl or atomic; default from the suffix
    delimiter: str = ""  # one character; "" = tab for .tsv, else comma
    quote: str = '"'  # the quote character; "" = fields are never quoted
    encoding: str = "utf-8"  # latin-1 for files that are not UTF-8 (Book-Crossing, MovieLens's u.item)
    header: list[str] = field(default_factory=list)  # column names of a file without a header row

    def options(self) -> TableOptions:
        return TableOptions(self.delimiter, self.quote, self.encoding, tuple(self.header))


@dataclass
class CatalogSection(TableSection):
    """``[catalog]``: the item file, its id and title columns, its typed fields and how an item's text is rendered."""

    id: str = "item_id"  # the item id column
    title: str = "title"  # the title column
    fields: dict[str, FieldSection] = field(default_factory=dict)  # the typed fields, by name ([catalog.fields])
    template: str = DEFAULT_TEMPLATE  # a Jinja2 template rendering an item's text from its title and fields
    na: list[str] = field(default_factory=lambda: [""])  # values that mean "no value"
    move_articles: bool = False  # "Usual Suspects, The" becomes "The Usual Suspects"
    skip_bad: bool = False  # skip (and count) rows that do not parse instead of stopping at the first

    def spec(self) -> CatalogSpec:
        return CatalogSpec(
            self.id,
            self.title,
            {
                n: FieldSpec(f.column or n, f.type, f.sep, f.strict, f.pattern, tuple(f.columns))
                for n, f in self.fields.items()
            },
            self.template,
            tuple(self.na),
            self.move_articles,
        )

    def with_role(self, role: str) -> list[str]:
        return [n for n, f in self.fields.items() if f.role == role]


@dataclass
class InteractionsSection(TableSection):
    """``[interactions]``: the interaction log (user, item, and optionally rating and time)."""

    user: str = "user_id"  # the user id column
    item: str = "item_id"  # the item id column
    rating: str = "rating"  # the rating column; "" when the log has none
    timestamp: str = "timestamp"  # the time column; "" when the log has none
    time_format: str = "seconds"  # seconds, milliseconds (since 1970) or iso (2009-09-13[T12:00:00], UTC unless zoned)

    def spec(self) -> InteractionSpec:
        return InteractionSpec(self.user, self.item, self.rating or None, self.timestamp or None, self.time_format)


@dataclass
class IndexSection:
    """``[index]``: where the Chroma collection lives and how it is searched (HNSW settings are fixed at creation)."""

    path: str | None = None  # embedded store folder; default $RECCHAT_HOME/index
    url: str | None = None  # a Chroma server (http://host:port) instead of a folder
    collection: str | None = None  # the collection's name; default <name>-items
    max_neighbors: int | None = None  # HNSW M, links per node (None: Chroma's 16); more: better recall, slower
    ef_construction: int | None = None  # HNSW candidates kept while inserting (None: Chroma's 100)
    ef_search: int | None = None  # HNSW candidates kept while searching (None: Chroma's 100)
    exact_below: int | None = None  # search exactly (in memory) up to this many items; None: EXACT_BELOW; 0: never


@dataclass
class ScorerSection:
    """``[scorer]``: the trained behaviour scorer (or a plugin instead) and extra candidate sources."""

    checkpoint: str | None = None  # default $RECCHAT_HOME/models/<name>-scorer.pt
    plugin: str | None = None  # a recchat.scorers entry point instead of the checkpoint
    retrievers: list[str] = field(default_factory=list)  # extra candidate sources (recchat.retrievers entry points)
    plugin_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # keyword options, by plugin name


@dataclass
class LLMSection:
    """``[llm]``: the LLM backend that reranks, explains and understands, and how it is called."""

    backend: str = "auto"  # auto, transformers, vllm, openai, a plugin, or none
    model: str | None = None  # an asset name or a model folder; default the SmolLM2 asset
    base_url: str = "http://127.0.0.1:8000/v1"  # the OpenAI-compatible server of the openai backend
    mode: str = "listwise"  # how the LLM reranks: listwise, pointwise or permutation
    passes: int = 1  # rerank passes (listwise, permutation), each over a shuffled candidate order, averaged
    pool: int = 20  # candidates the LLM reranks
    history: int | None = None  # history items in the prompt; default the tuned model's, else 20
    concurrency: int = 8  # requests in flight to a server
    timeout: float = 60.0  # seconds per server request
    options: dict[str, Any] = field(default_factory=dict)  # extra backend options


@dataclass
class BlendSection:
    """``[blend]``: how the scorer's prior and the LLM's scores are mixed."""

    alpha: float | None = None  # the LLM's weight, 0 to 1; default tuned by tune-blend, else 0.5
    norm: str | None = None  # score normalisation before blending: zscore, softmax or rank; default the tuned one


@dataclass
class DomainSection:
    """``[domain]``: the catalog's words (what an item and a user are called) and the linker's extra evidence."""

    item: str = "item"  # what one item is called
    items: str = ""  # the plural; default item + "s"
    cold_start_query: str = "popular and widely liked"  # the text query for a user with no history yet
    reference_year: int | None = None  # "recent" counts back from it; default the catalog's latest year
    synonyms: str | None = None  # a TOML file of per-facet synonyms (see configs/movielens-synonyms.toml)
    aliases: str | None = None  # a CSV of item_id,alias: names of items no rule derives ("t2", "A New Hope")
    popularity: str = ""  # a numeric field saying how well known an item is (votes), where the log says nothing
    user: str = "user"  # what the people in the log are called
    verb: str = "tried"  # what a user did with an item, in the past tense ("watched", "read"): "which you watched"

    @property
    def plural(self) -> str:
        return self.items or self.item + "s"

"""Prompt templates as data: Jinja2 files under ``prompts/`` with declared fields.

Each template file starts with a header comment that declares its fields::

    {#- recchat-template
    requires: history
    suffix_requires: candidate
    optional: query, kind
    -#}

and has two blocks: ``prefix`` (instructions, the user's history, the conversation: shared by
every candidate) and ``suffix`` (the candidate part, or the question of a listwise prompt). The
prefix comes first so that its KV cache is computed once and reused for every suffix.

Loading checks that every variable the template uses is declared; rendering checks that every
required field is given. Every string a template receives is treated as untrusted: chat control
tokens and recchat's own delimiter tags are removed and newlines collapsed, so item text and
user text cannot close the data block they sit in or pose as instructions; and personal data in
it (e-mail addresses, phone numbers, postal addresses, card numbers, IBANs) is masked
(recchat.privacy), so a catalog description carrying an e-mail never reaches an LLM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from recchat.privacy import masked

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

_HEADER = re.compile(r"\{#-?\s*recchat-template\s*(?P<body>.*?)-?#\}", re.DOTALL)
_CONTROL_TOKEN = re.compile(r"<\|[^|<>]{0,40}\|>|</?s>|\[/?INST\]", re.IGNORECASE)
# The tags templates use to delimit data; text must not be able to open or close them.
DATA_TAGS = ("history", "item", "request", "candidates", "conversation")
_DATA_TAG = re.compile(r"</?\s*(" + "|".join(DATA_TAGS) + r")\b[^>]*>", re.IGNORECASE)
MAX_FIELD_CHARS = 600


class TemplateError(ValueError):
    """A template that is malformed, or rendered without a required field."""


def sanitize(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """Make untrusted text safe to place between data tags in a prompt."""
    text = _CONTROL_TOKEN.sub(" ", str(text))
    text = _DATA_TAG.sub(" ", text)
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _clean(value: object) -> object:
    if isinstance(value, str):
        return sanitize(masked(value))  # the prompt boundary: personal data never reaches an LLM
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: _clean(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def _fields(body: str, key: str) -> frozenset[str]:
    match = re.search(rf"^\s*{key}\s*:(.*)$", body, re.MULTILINE)
    return frozenset(f.strip() for f in match.group(1).split(",") if f.strip()) if match else frozenset()


@dataclass(frozen=True)
class PromptTemplate:
    """One prompt task: render its prefix once, its suffix per candidate (or once)."""

    name: str
    source: str
    requires: frozenset[str]
    optional: frozenset[str]
    suffix_requires: frozenset[str] = frozenset()

    @classmethod
    def from_source(cls, name: str, source: str) -> PromptTemplate:
        from jinja2 import meta

        header = _HEADER.search(source)
        if not header:
            raise TemplateError(f"template '{name}' has no '{{#- recchat-template ... -#}}' header")
        requires, optional = _fields(header["body"], "requires"), _fields(header["body"], "optional")
        suffix_requires = _fields(header["body"], "suffix_requires")
        env = _environment()
        try:
            parsed = env.parse(source)
        except Exception as exc:
            raise TemplateError(f"template '{name}' does not parse: {exc}") from None
        used = meta.find_undeclared_variables(parsed) - {"loop", "range"}
        undeclared = used - requires - optional - suffix_requires
        if undeclared:
            raise TemplateError(f"template '{name}' uses undeclared fields: {', '.join(sorted(undeclared))}")
        compiled = env.from_string(source)
        missing_blocks = {"prefix", "suffix"} - set(compiled.blocks)
        if missing_blocks:
            raise TemplateError(f"template '{name}' lacks block(s): {', '.join(sorted(missing_blocks))}")
        return cls(name, source, requires, optional, suffix_requires)

    def _render_block(self, block: str, fields: dict[str, object]) -> str:
        needed = self.suffix_requires if block == "suffix" else self.requires
        missing = needed - set(fields)
        if missing:
            raise TemplateError(f"template '{self.name}' {block} needs field(s): {', '.join(sorted(missing))}")
        declared = self.requires | self.optional | self.suffix_requires
        unknown = set(fields) - declared
        if unknown:
            raise TemplateError(f"template '{self.name}' does not take: {', '.join(sorted(unknown))}")
        compiled = _environment().from_string(self.source)
        values: dict[str, object] = {name: None for name in declared}  # absent optional fields render as empty
        values.update({k: _clean(v) for k, v in fields.items()})
        return "".join(compiled.blocks[block](compiled.new_context(values)))

    def prefix(self, **fields: object) -> str:
        return self._render_block("prefix", fields)

    def suffix(self, **fields: object) -> str:
        return self._render_block("suffix", fields)


_ENV: SandboxedEnvironment | None = None


def _environment() -> SandboxedEnvironment:
    global _ENV
    if _ENV is None:
        from jinja2 import StrictUndefined
        from jinja2.sandbox import SandboxedEnvironment

        _ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    return _ENV


def load_template(name: str, folder: Path | str | None = None) -> PromptTemplate:
    """Load ``<name>.j2`` from ``folder``, or from the templates shipped with recchat."""
    if folder is not None:
        path = Path(folder) / f"{name}.j2"
        if not path.is_file():
            raise TemplateError(f"no template {path}")
        return PromptTemplate.from_source(name, path.read_text(encoding="utf-8"))
    try:
        source = resources.files("recchat.prompts").joinpath(f"{name}.j2").read_text(encoding="utf-8")
    except FileNotFoundError:
        shipped = sorted(p.name[:-3] for p in resources.files("recchat.prompts").iterdir() if p.name.endswith(".j2"))
        raise TemplateError(f"no shipped template '{name}'; shipped: {', '.join(shipped)}") from None
    return PromptTemplate.from_source(name, source)

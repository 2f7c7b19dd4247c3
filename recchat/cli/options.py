"""Option groups shared by the sub-commands, and the one way they become a Builder.

Every option that names a part of the pipeline defaults to None ("what the configuration
says"); the configuration's dataclasses hold the real defaults, so help texts show them from
there and nothing is copied.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from recchat.config import BlendSection, LLMSection

if TYPE_CHECKING:
    from recchat.builder import Builder
    from recchat.data.catalog import InteractionLog
    from recchat.types import Candidate

    # What each command module's register() adds its subcommands to (parser.add_subparsers()).
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

_LLM, _BLEND = LLMSection(), BlendSection()


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the deployment's TOML configuration (write one with: recchat init ITEMS "
        "[INTERACTIONS]), or a built-in one by name: movielens-100k, movielens-100k-enriched "
        "[the built-in MovieLens-100K one]",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        default=None,
        help="skip malformed rows and report how many, instead of stopping at the first",
    )


def add_store(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("store (default: the configuration's [index])")
    g.add_argument("--collection", help="Chroma collection [<name>-items]")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--path", type=Path, help="folder of the embedded store [$RECCHAT_HOME/index]")
    where.add_argument("--url", help="a Chroma server instead, e.g. http://127.0.0.1:8000 (see: chroma run)")


def add_scorer(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scorer", type=Path, help="scorer checkpoint [$RECCHAT_HOME/models/<name>-scorer.pt]")


def add_llm(p: argparse.ArgumentParser, *, server: bool = True) -> None:
    g = p.add_argument_group("LLM (default: the configuration's [llm])")
    g.add_argument(
        "--backend",
        help="auto (vLLM on a GPU, transformers otherwise), transformers, vllm, openai, "
        f"an installed recchat.llm_backends plugin, or none [{_LLM.backend}]",
    )
    g.add_argument(
        "--model",
        help="a model asset (smollm2-135m-instruct, gemma3-270m), a model folder such as "
        "one from recchat tune-llm, or the served model's name for --backend openai "
        "[smollm2-135m-instruct]",
    )
    g.add_argument(
        "--mode",
        choices=("pointwise", "listwise", "permutation"),
        help="pointwise: P(Yes) per item; listwise: one pass, label probabilities; "
        f"permutation: generated order [{_LLM.mode}]",
    )
    g.add_argument("--passes", type=int, help=f"shuffled passes averaged against position bias [{_LLM.passes}]")
    g.add_argument("--history", type=int, help="history items in the prompt [the tuned model's, else 20]")
    if server:
        g.add_argument("--base-url", help=f"OpenAI-compatible server [{_LLM.base_url}]")
        g.add_argument("--concurrency", type=int, help=f"requests in flight to the server [{_LLM.concurrency}]")
        g.add_argument("--timeout", type=float, help=f"seconds per server request [{_LLM.timeout:g}]")


def add_blend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alpha", type=float, help="LLM weight in the blend [tuned by tune-blend, else 0.5]")
    p.add_argument("--norm", choices=("zscore", "softmax", "rank"), help="normalisation [tuned, else zscore]")


# Which option sets which configuration key.
_KEYS = {
    "skip_bad": ("catalog", "skip_bad"),
    "collection": ("index", "collection"),
    "path": ("index", "path"),
    "url": ("index", "url"),
    "ef_search": ("index", "ef_search"),
    "max_neighbors": ("index", "max_neighbors"),
    "ef_construction": ("index", "ef_construction"),
    "scorer": ("scorer", "checkpoint"),
    "backend": ("llm", "backend"),
    "model": ("llm", "model"),
    "mode": ("llm", "mode"),
    "passes": ("llm", "passes"),
    "history": ("llm", "history"),
    "base_url": ("llm", "base_url"),
    "concurrency": ("llm", "concurrency"),
    "timeout": ("llm", "timeout"),
    "alpha": ("blend", "alpha"),
    "norm": ("blend", "norm"),
}


def overrides(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    """The configuration changes the command line asks for (paths made absolute: they are the
    user's, relative to where they ran the command, not to the configuration file)."""
    changes: dict[str, dict[str, object]] = {}
    for option, (section, key) in _KEYS.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        if isinstance(value, Path):
            value = str(value.expanduser().resolve())
        changes.setdefault(section, {})[key] = value
    return changes


def builder(args: argparse.Namespace) -> Builder:
    """The Builder for the command's configuration and options."""
    from recchat.builder import Builder
    from recchat.config import RecommenderConfig

    config = RecommenderConfig.coerce(getattr(args, "config", None))
    changes = overrides(args)
    return Builder(config.replace(changes) if changes else config)


def limit_users(log: InteractionLog, max_users: int | None) -> InteractionLog:
    """The interactions of the first ``max_users`` users (for quick runs and CI)."""
    if not max_users:
        return log
    from recchat.data.catalog import InteractionLog

    keep = set(log.users()[:max_users])
    return InteractionLog([i for i in log if i.user in keep], log.report)


def print_candidates(results: Sequence[Candidate]) -> None:
    if not results:
        print("(no items match)")
    for rank, c in enumerate(results, start=1):
        print(f"{rank:3}. {c.score:.3f}  {c.item.text}  [id {c.item.id}]")

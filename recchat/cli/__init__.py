"""The ``recchat`` command: thin sub-commands over the library, grouped by what they do.

- :mod:`recchat.cli.data`: init, assets, data check, index, demo
- :mod:`recchat.cli.learn`: train, eval, tune-llm, tune-blend
- :mod:`recchat.cli.serve`: ui, rerank, profile, eval-chat, doctor, forget-user
- :mod:`recchat.cli.options`: the option groups they share, and the one way options become a
  :class:`~recchat.builder.Builder` (``--config`` plus command-line changes)

Every sub-command has ``--help``. Errors recchat can explain (a bad row, a bad configuration, a
missing asset, a wrong filter) are printed as one message that says what to do next, with exit
status 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import os
import sys


def _quiet_libraries() -> None:
    # Everything is local: never let a library try a hub, and keep their progress noise out of
    # ours. Users can still override any of these from the environment.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def build_parser() -> argparse.ArgumentParser:
    from recchat.cli import data, learn, serve

    parser = argparse.ArgumentParser(
        prog="recchat",
        description="recchat: a conversational recommender. Chroma retrieval, a trained scorer, "
        "LLM reranking (vLLM), blended and explained. Start with 'recchat ui' (MovieLens-100K) "
        "or, for your own catalog, 'recchat init ITEMS INTERACTIONS'.",
        epilog="Assets and the index live in $RECCHAT_HOME (default: the user's cache folder).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (data, learn, serve):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet_libraries()
    args = build_parser().parse_args(argv)
    from chromadb.errors import ChromaError

    from recchat.assets import AssetError
    from recchat.data.tables import DataError
    from recchat.index import ItemIndexError
    from recchat.llm import LLMError
    from recchat.plugins import PluginError
    from recchat.scorer import CheckpointError
    from recchat.templates import TemplateError

    try:
        return args.func(args)
    except (
        AssetError,
        DataError,
        ItemIndexError,
        CheckpointError,
        LLMError,
        TemplateError,
        PluginError,
        FileNotFoundError,
        FileExistsError,
        ValueError,
    ) as exc:
        print(f"recchat: error: {exc}", file=sys.stderr)
        return 2
    except ChromaError as exc:  # the store failed where recchat does not wrap it: still no traceback
        print(
            f"recchat: error: the Chroma store failed ({type(exc).__name__}: {exc}); if its folder is damaged, "
            "delete it and build the index again: recchat index build",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("recchat: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

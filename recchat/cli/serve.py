"""Sub-commands that serve and converse: ui, rerank (batch), profile, eval-chat, doctor, forget-user."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from recchat.cli.options import add_blend, add_config, add_llm, add_scorer, add_store, builder

if TYPE_CHECKING:
    from recchat.builder import Builder
    from recchat.cli.options import Subcommands


def prepare(parts: Builder) -> None:
    """What the chat app needs on a fresh machine, each step only when missing: the assets the
    configuration names (its data, the default LLM), its Chroma index and the trained scorer
    (with progress bars)."""
    from recchat import assets

    config = parts.config
    wanted = {
        p.removeprefix("asset:").split("/", 1)[0]
        for p in (config.catalog.path, config.interactions.path)
        if p.startswith("asset:")
    }
    if config.llm.backend not in ("none", "openai") and (config.llm.model is None or config.llm.model in assets.MODELS):
        wanted.add(config.llm.model or "smollm2-135m-instruct")
    for name in sorted(wanted):
        assets.fetch(assets.get(name))
    parts.index(build="always")  # incremental: a no-op when current
    if not config.checkpoint().is_file():
        from recchat.cli.train import train_scorer

        print(f"No trained scorer yet: training it on {parts.name} (1-2 minutes for MovieLens-100K on 2 cores).")
        train_scorer(parts)


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the Gradio chat app on 127.0.0.1, sharing off. It first fetches the assets, builds the
    index and trains the scorer if any of them is missing (--no-setup skips that)."""
    from recchat.recommender import Recommender
    from recchat.ui.app import build_app, exposure_warning, launch, parse_auth

    if args.parallel is not None and args.parallel < 1:  # said before the minutes of set-up
        raise ValueError(f"--parallel must be at least 1 (got {args.parallel})")
    auth = parse_auth(args.auth or os.environ.get("RECCHAT_UI_AUTH"))
    warning = exposure_warning(args.host, auth)
    if warning:  # said at once, before the minutes of set-up, and again when the app is up
        print(warning, file=sys.stderr, flush=True)
    parts = builder(args)
    if not args.no_setup:
        prepare(parts)
    recommender = Recommender.from_config(parts)
    # Behind a login each account's conversation is saved and restored (recchat forget-user removes it).
    app = build_app(
        recommender,
        sessions=recommender.sessions() if auth else None,
        **({"concurrency": args.parallel} if args.parallel else {}),
    )
    launch(app, args.host, args.port, auth)
    return 0


def cmd_rerank(args: argparse.Namespace) -> int:
    """Rerank JSONL requests with the LLM, blended with the scorer; resumable, with a rejects file."""
    from recchat.batch import rerank_file

    parts = builder(args)
    if args.ray is not None:
        return _rerank_on_ray(args, parts)
    scorer = parts.scorer()
    if scorer is None:
        _no_scorer_note(parts)
    llm = parts.config.llm
    workers = llm.concurrency if llm.backend == "openai" else 1
    report = rerank_file(
        args.input,
        args.output,
        parts.reranker(),
        catalog=parts.catalog,
        scorer=scorer,
        blend=parts.blend(),
        rejects_path=args.rejects,
        concurrency=workers,
    )
    print(f"{args.output}: {report.summary()}")
    return 0


def _no_scorer_note(parts: Builder) -> None:
    print(
        f"no scorer checkpoint at {parts.config.checkpoint()}: candidates without a 'score' get prior 0 "
        f"(train one with: recchat train{parts.config_flag()})",
        file=sys.stderr,
    )


def _rerank_on_ray(args: argparse.Namespace, parts: Builder) -> int:
    from recchat.batch.on_ray import RayBatchError, rerank_file_on_ray

    checkpoint = parts.config.checkpoint()
    if not parts.config.scorer.plugin and checkpoint and not Path(checkpoint).is_file():
        _no_scorer_note(parts)  # said here: the actors load the scorer, not this process
    try:
        report = rerank_file_on_ray(
            args.input,
            args.output,
            parts.config,
            address=args.ray or None,
            actors=args.actors,
            actor_cpus=args.actor_cpus,
            block_size=args.block_size,
            rejects_path=args.rejects,
        )
    except RayBatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.output}: {report.summary()} (Ray, {args.actors} actors)")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    """Print a user's taste profile, or build every user's (--all); cached per history."""
    from tqdm import tqdm

    parts = builder(args)
    store = parts.profiles(backend=parts.backend(), folder=args.cache)
    if args.all:
        users = store.users()[: args.limit] if args.limit else store.users()
        sources: dict[str, int] = {}
        for user in tqdm(users, desc="profiles", unit="user"):
            profile = store.get(user, refresh=args.refresh)
            sources[profile.summary_source] = sources.get(profile.summary_source, 0) + 1
        print(
            f"{len(users)} profiles in {store.folder} (summaries: "
            + ", ".join(f"{v} {k}" for k, v in sorted(sources.items()))
            + ")"
        )
        return 0
    if not args.user:
        raise ValueError("give a USER_ID, or --all to build every user's profile")
    try:
        profile = store.get(args.user, refresh=args.refresh)
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]}; user ids look like: {', '.join(store.users()[:5])}") from None
    if args.json:
        import dataclasses

        print(json.dumps(dataclasses.asdict(profile), indent=1))
    else:
        print(profile.markdown(parts.catalog).replace("**", ""))
        for note in profile.notes:
            print(f"note: {note}")
    return 0


def cmd_eval_chat(args: argparse.Namespace) -> int:
    """Simulated users (see recchat.conversation.simulate): success within 5 turns, turns, Recall@10 per turn."""
    from recchat.conversation.simulate import held_out_log, markdown, run
    from recchat.data.split import leave_one_out
    from recchat.recommender import Recommender

    parts = builder(args)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if parts.config.llm.backend == "none":
        systems = [s for s in systems if s != "pipeline"]
    data = parts.dataset
    split = leave_one_out(data.interactions, data.catalog)
    # The simulation's users must not be known with their targets: histories and profiles come
    # from the log without each user's last item.
    log = held_out_log(split)
    rec = Recommender.from_config(
        parts, interactions=log, profiles_folder=parts.config.profiles_folder().with_name(f"{parts.name}-heldout")
    )
    llm = parts.config.llm
    folder, rows = run(
        rec,
        split,
        users=args.users,
        seed=args.seed,
        systems=systems,
        out=args.out,
        paraphrase=args.paraphrase,
        config={
            "dataset": parts.name,
            "backend": llm.backend,
            "mode": llm.mode,
            "model": llm.model or "smollm2-135m-instruct",
            "alpha": rec.blend.alpha,
            "norm": rec.blend.norm,
        },
    )
    print(markdown(rows))
    for row in rows:
        if row.get("degraded_turns"):
            print(
                f"{row['system']}: the LLM failed on {row['degraded_turns']} of {row['llm_turns']} turns "
                f"(first error: {row['first_error']}); those turns ranked with the scorer alone"
            )
    print(f"\nrun folder: {folder} (results.md, results.json, chart.png, conversations.jsonl)")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check that each real component loads and answers."""
    from recchat.doctor import CHECKS

    names = args.checks or ["embedder", "chroma", "transformers"]
    status = 0
    for name in names:
        try:
            result = CHECKS[name]()
        except Exception as exc:  # the point of a doctor is to report any failure, then go on
            result, status = {"check": name, "error": f"{type(exc).__name__}: {exc}"}, 1
        print(
            json.dumps(result)
            if args.json
            else f"{name:13} " + ", ".join(f"{k}={_short(v)}" for k, v in result.items() if k != "check")
        )
    return status


def cmd_forget_user(args: argparse.Namespace) -> int:
    """Remove what recchat keeps about one user under $RECCHAT_HOME: their cached profiles (of
    every configuration, and eval-chat's held-out ones), saved chat sessions and the records of
    the prompt log; then search every text file there for the user and list what still mentions
    them."""
    from recchat.privacy import forget_user

    parts = builder(args)
    report = forget_user(args.user, profile_folders=[args.cache or parts.config.profiles_folder()])
    print(report.summary())
    return 0


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_short(v)}" for k, v in list(value.items())[:5]) + ", ...}"
    return repr(value) if isinstance(value, str) else str(value)


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "ui", help="start the Gradio chat app (sets up what is missing first)", description=cmd_ui.__doc__
    )
    add_config(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on [127.0.0.1]")
    p.add_argument("--port", type=int, default=7860, help="port [7860]")
    p.add_argument(
        "--auth",
        action="append",
        metavar="USER:PASSWORD",
        help="require a login; repeat for more accounts [$RECCHAT_UI_AUTH, comma-separated; none]",
    )
    p.add_argument("--no-setup", action="store_true", help="do not fetch, index or train anything first")
    p.add_argument(
        "--parallel",
        type=int,
        metavar="N",
        help="chat turns served at once; an in-process LLM's calls from them are gathered into "
        "shared calls, a vLLM server batches them itself [8]",
    )
    add_llm(p)
    add_blend(p)
    add_store(p)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser(
        "rerank",
        help="batch: rerank JSONL requests with the LLM and the scorer",
        description=(cmd_rerank.__doc__ or "") + " Request and output schemas: README, 'Batch reranking'.",
    )
    p.add_argument("--input", type=Path, required=True, help="requests, one JSON object per line")
    p.add_argument("--output", type=Path, required=True, help="rankings, appended; requests already in it are skipped")
    p.add_argument("--rejects", type=Path, help="bad lines with their reasons [<output>.rejects.jsonl]")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run on a Ray cluster: HOST:PORT of its head (ray start --head ...); without ADDRESS, the "
        "cluster in $RAY_ADDRESS, else a Ray started for this job. Same output, resumable",
    )
    p.add_argument(
        "--actors",
        type=int,
        default=2,
        metavar="N",
        help="with --ray: rerankers working at once, each loading the scorer and the LLM once [2]",
    )
    p.add_argument("--actor-cpus", type=float, default=1, metavar="C", help="with --ray: CPUs per actor [1]")
    p.add_argument(
        "--block-size",
        type=int,
        default=8,
        metavar="N",
        help="with --ray: requests per block sent to an actor (a retried block is redone whole) [8]",
    )
    add_config(p)
    add_scorer(p)
    add_blend(p)
    add_llm(p)
    p.set_defaults(func=cmd_rerank)

    p = sub.add_parser(
        "profile",
        help="a user's taste profile (facts + LLM summary), or build all",
        description=(cmd_profile.__doc__ or "") + " Example: recchat profile 196; recchat profile --all",
    )
    p.add_argument("user", nargs="?", help="user id from the interaction log")
    p.add_argument("--all", action="store_true", help="build (or refresh) every user's profile, with progress")
    p.add_argument("--limit", type=int, help="with --all: the first N users only")
    p.add_argument("--refresh", action="store_true", help="rebuild even if the cached profile is current")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")
    p.add_argument("--cache", type=Path, help="profile folder [$RECCHAT_HOME/profiles/<name>]")
    add_config(p)
    add_llm(p, server=False)
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser(
        "eval-chat",
        help="simulated users: success within 5 turns, Recall@10 per turn",
        description=(cmd_eval_chat.__doc__ or "") + " Compares Chroma text retrieval alone, "
        "the chat pipeline without the LLM, and the full pipeline, on the test users.",
    )
    p.add_argument("--users", type=int, default=100, help="simulated users, sampled with --seed [100]")
    p.add_argument("--seed", type=int, default=0, help="sampling seed [0]")
    p.add_argument(
        "--systems",
        default="text,pipeline-no-llm,pipeline",
        help="comma-separated: text, pipeline-no-llm, pipeline [all three]",
    )
    p.add_argument("--paraphrase", action="store_true", help="let the LLM reword the templated messages")
    p.add_argument("--out", type=Path, default=Path("runs"), help="where run folders go [./runs]")
    add_config(p)
    add_scorer(p)
    add_blend(p)
    add_llm(p)
    p.set_defaults(func=cmd_eval_chat)

    p = sub.add_parser(
        "forget-user",
        help="remove a user's profiles, saved sessions and logged prompts; report what is left",
        description=cmd_forget_user.__doc__,
        epilog='A mention is the id as the value of a user field in JSON ("user": "196") and, for an id of '
        "4 or more characters that is not all digits, the id anywhere as a whole word (a short or numeric "
        "id such as 196 is an ordinary number elsewhere). Not touched: $RECCHAT_HOME/assets (fetched data "
        "sets such as MovieLens) and your interaction log: it is your input data and lives where your "
        "configuration says, so remove the user's rows there yourself. Prompts are logged only when "
        "RECCHAT_DEBUG_PROMPTS=1 is set (masked, to $RECCHAT_HOME/logs/prompts.jsonl). "
        "Example: recchat forget-user 196; recchat forget-user alice --config books.toml",
    )
    p.add_argument("user", help="the user id (of the interaction log, or a saved session's)")
    p.add_argument("--cache", type=Path, help="profile folder [$RECCHAT_HOME/profiles/<name>]")
    add_config(p)
    p.set_defaults(func=cmd_forget_user)

    p = sub.add_parser(
        "doctor",
        help="check that the embedder, Chroma, the LLM and vLLM work here",
        description="Runs each component for real on a tiny input and prints what it "
        "answered. Default checks: embedder, chroma, transformers; add "
        "vllm to start the vLLM engine (about a minute on CPU).",
    )
    p.add_argument(
        "checks", nargs="*", choices=["embedder", "chroma", "transformers", "vllm", []], help="which checks to run"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per check")
    p.set_defaults(func=cmd_doctor)

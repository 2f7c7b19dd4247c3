"""The batch rerank job on a Ray cluster: the same JSONL in and out as :mod:`recchat.batch`.

The driver (where ``recchat rerank --ray`` runs) reads the input, skips what an earlier run
already ranked and rejects lines that are not JSON, exactly as the single-process job does. The
rest becomes a Ray Data dataset whose blocks go to a fixed pool of actors; each actor builds the
recchat parts from the same configuration once (catalog, scorer, reranker with its LLM) and ranks
or rejects every line it is given. Results come back in input order and only the driver writes
them, one flush per block, so:

- a killed actor is restarted by Ray and its block run again (Ray Data's actor pools restart
  actors and retry their tasks): nothing is lost, and since nothing was written for that block,
  nothing is written twice;
- a killed driver loses only the blocks not yet written: the same command resumes.

Every node needs recchat, its assets ($RECCHAT_HOME: ``recchat assets fetch all``) and any file
the configuration names, at the same paths. The driver holds the lines still to rank in memory
(the input's size); split larger inputs into several files.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from recchat.batch import BatchFiles, BatchReport, NotJSON, rank_line

if TYPE_CHECKING:
    import numpy as np

    from recchat.config import RecommenderConfig

    ConfigSource = RecommenderConfig | dict[str, object] | str | Path

# Environment the actors need to find what the driver finds (assets, offline model loading).
_PASSED_ENV = ("RECCHAT_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME")


class RayBatchError(RuntimeError):
    """The Ray job could not run: no cluster at the address, Ray missing, actors that cannot start."""


class _Ranker:
    """One actor of the pool: the recchat parts built once, then every block it is given."""

    def __init__(self, config: RecommenderConfig, threads: int):
        import torch

        from recchat.builder import Builder

        torch.set_num_threads(max(1, threads))
        parts = Builder(config, log=lambda message: None)
        self.catalog, self.scorer = parts.catalog, parts.scorer()
        self.reranker, self.blend = parts.reranker(), parts.blend()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, object]:
        ok: list[bool] = []
        payload: list[str] = []
        for raw, bad in zip(batch["raw"], batch["bad"]):
            ranked, result = rank_line(
                NotJSON(bad) if bad else json.loads(raw),
                self.reranker,
                catalog=self.catalog,
                scorer=self.scorer,
                blend=self.blend,
            )
            ok.append(ranked)
            payload.append(json.dumps(result))  # ASCII: lone surrogates travel as \udcXX escapes
        return {"line": batch["line"], "ok": ok, "payload": payload}


def connect(address: str | None) -> None:
    """Join the cluster at ``address`` ("HOST:PORT"); None: the one in $RAY_ADDRESS, else a Ray
    started in this process for the job."""
    try:
        import ray
    except ImportError:
        raise RayBatchError("Ray is not installed: pip install 'recchat[ray]' (ray[data]==2.60.0)") from None
    help = (
        "Start one with: ray start --head --port=6379, then pass --ray HOST:6379. A cluster that asks for a "
        "token needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN, or the file ~/.ray/auth_token) here too"
    )
    if address and address != "auto":
        # Ray waits minutes for a head that is not there; a refused connection is known at once.
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=10).close()
        except (OSError, ValueError) as exc:
            raise RayBatchError(f"no Ray cluster answered at {address} ({exc}). {help}") from None
    env = {key: os.environ[key] for key in _PASSED_ENV if key in os.environ}
    try:
        ray.init(
            address=address,
            runtime_env={"env_vars": env} if env else None,
            logging_level="WARNING",
            include_dashboard=False,
            ignore_reinit_error=True,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayBatchError(f"no Ray cluster answered at {address or '$RAY_ADDRESS'}: {exc}. {help}") from None


def rerank_file_on_ray(
    input_path: Path | str,
    output_path: Path | str,
    config: ConfigSource,
    *,
    address: str | None = None,
    actors: int = 2,
    actor_cpus: float = 1,
    block_size: int = 8,
    rejects_path: Path | str | None = None,
    progress: bool = True,
) -> BatchReport:
    """Rerank every request in ``input_path`` into ``output_path`` with ``actors`` Ray actors,
    each built from ``config`` (a RecommenderConfig, its dict, or a TOML path) and given
    ``actor_cpus`` CPUs. Same output, rejects and resumption as :func:`recchat.batch.rerank_file`."""
    from tqdm.auto import tqdm

    if actors < 1 or actor_cpus <= 0 or block_size < 1:
        raise RayBatchError(
            f"actors ({actors}), actor CPUs ({actor_cpus}) and block size ({block_size}) must be positive"
        )
    files = BatchFiles(input_path, output_path, rejects_path)
    with files, tqdm(total=files.total, desc="reranking on Ray", unit="request", disable=not progress) as bar:
        lines: dict[int, str] = {}
        rows: list[dict[str, object]] = []
        for number, line, raw in files.requests():
            lines[number] = line
            # ASCII JSON travels as any text can (Arrow needs valid UTF-8); a line that is not JSON
            # travels with its reason, to be rejected in its turn.
            bad = raw.reason if isinstance(raw, NotJSON) else ""
            rows.append({"line": number, "raw": "" if bad else json.dumps(raw), "bad": bad})
        bar.update(files.handled())
        if rows:
            for block in _ranked_blocks(rows, config, address, actors, actor_cpus, block_size):
                for number, ok, payload in zip(block["line"], block["ok"], block["payload"]):
                    result = json.loads(payload)
                    files.write(result) if ok else files.reject(int(number), result, lines[int(number)])
                files.flush()  # whole blocks reach the file: what a rerun after a kill finds done
                bar.update(files.handled() - bar.n)
    return files.report


def _ranked_blocks(
    rows: list[dict[str, object]],
    config: ConfigSource,
    address: str | None,
    actors: int,
    actor_cpus: float,
    block_size: int,
) -> Iterator[dict[str, np.ndarray]]:
    import ray
    import ray.data

    from recchat.config import RecommenderConfig

    config = RecommenderConfig.coerce(config)  # checked here, before any actor starts
    connect(address)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the output keeps the input's order
    context.enable_progress_bars = False
    dataset = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), len(rows) // block_size + 1)))
    ranked = dataset.map_batches(
        _Ranker,
        fn_constructor_kwargs={"config": config, "threads": int(actor_cpus)},
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=actor_cpus,
        batch_size=block_size,
        batch_format="numpy",
    )
    try:
        yield from ranked.iter_batches(batch_size=None, batch_format="numpy")
    except ray.exceptions.RayError as exc:
        raise RayBatchError(f"the Ray job failed: {exc}") from None

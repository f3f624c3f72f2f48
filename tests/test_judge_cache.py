"""The judges' compilation cache (``dl4f_grading.judge.judge_cache``): the grader's own folder, or none.

The judge of a class compiles the same reference programs at every submission; JAX's persistent cache keeps them
(a tp-transformer judge: 20 s cold, 7-9 s warm, ``benchmarks/grading.py``). The folder must be the grading user's
alone: a folder that another user owns or can write to could hold a forged executable, so it is not used.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from dl4f_grading import judge


def test_the_cache_is_a_private_folder_of_the_grader(tmp_path, monkeypatch):
    monkeypatch.setenv(judge.CACHE_ENV, str(tmp_path / "judges" / "jax"))
    folder = judge.judge_cache()
    assert folder == tmp_path / "judges" / "jax" and folder.is_dir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    env = judge._cache_env()
    assert env["JAX_COMPILATION_CACHE_DIR"] == str(folder) and env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    assert int(env["JAX_COMPILATION_CACHE_MAX_SIZE"]) == judge.CACHE_MAX_BYTES  # a size cap: JAX locks its files

    folder.chmod(0o777)  # writable by the sandbox's user, or anyone: not used
    assert judge.judge_cache() is None and judge._cache_env() == {"JAX_COMPILATION_CACHE_DIR": ""}
    folder.chmod(0o700)
    assert judge.judge_cache() == folder
    monkeypatch.setenv(judge.CACHE_ENV, "off")
    assert judge.judge_cache() is None
    monkeypatch.setenv(judge.CACHE_ENV, str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("not a folder")
    assert judge.judge_cache() is None


def test_a_program_compiled_once_is_read_back_by_the_next_process(tmp_path, monkeypatch):
    """Two processes with the judges' environment: the second finds the first one's executable (a cache hit)."""
    monkeypatch.setenv(judge.CACHE_ENV, str(tmp_path / "cache"))
    code = ("import json, jax, jax.numpy as jnp\n"
            "from jax._src import monitoring\n"
            "hits = []\n"
            "monitoring.register_event_listener(lambda name, **kw: hits.append(name) if 'cache_hits' in name else None)\n"
            "y = jax.jit(lambda x: jnp.tanh(x) @ x.T)(jnp.ones((7, 5)))\n"
            "print(json.dumps([len(hits), float(y.sum())]))")
    env = {**os.environ, **judge._cache_env()}
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                      check=True).stdout.strip().splitlines()[-1]) for _ in range(2)]
    assert runs[0][0] == 0 and runs[1][0] >= 1, runs
    assert abs(runs[0][1] - runs[1][1]) <= 1e-6 * abs(runs[0][1])
    assert any(p.name.endswith("-cache") for p in (tmp_path / "cache").iterdir())

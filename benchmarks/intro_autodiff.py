"""The cost of forward and reverse mode, for the chapter "Automatic Differentiation" (chapters/intro/autodiff.qmd).

Times the full Jacobian of a two-layer network ``f(x) = tanh(W2 tanh(W1 x))`` (64 hidden units) with
``jax.jacfwd`` and ``jax.jacrev``, compiled with ``jax.jit``, in float64 (as the page computes), as the number of
inputs ``n`` grows with one output, then as the number of outputs ``m`` grows with one input: best of 5 runs
after one compiling call. Writes ``chapters/intro/results/autodiff_modes.csv`` (timings only): one row per
varying dimension, size and mode, with the CPU and the machine's load during the run (the page reads it:
compiling twelve programs takes longer than the page should).

    python benchmarks/intro_autodiff.py
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from dl4f import hardware
from dl4f.backends import time_call

jax.config.update("jax_enable_x64", True)  # as on the page

OUT = Path(__file__).resolve().parents[1] / "chapters" / "intro" / "results" / "autodiff_modes.csv"
SIZES = (1, 32, 1000)
key = jax.random.PRNGKey(0)


def network(n_in, n_out, hidden=64):
    k1, k2 = jax.random.split(jax.random.fold_in(key, n_in * 10_000 + n_out))
    W1 = jax.random.normal(k1, (hidden, n_in)) / np.sqrt(n_in)
    W2 = jax.random.normal(k2, (n_out, hidden)) / np.sqrt(hidden)
    return lambda x: jnp.tanh(W2 @ jnp.tanh(W1 @ x))


def main() -> None:
    cpu = hardware.cpu_peak_gflops()["model"]
    rows = []
    for varying in ("inputs n", "outputs m"):
        for size in SIZES:
            n_in, n_out = (size, 1) if varying == "inputs n" else (1, size)
            f, x = network(n_in, n_out), jnp.ones(n_in)
            for mode, jac in (("forward (jacfwd)", jax.jacfwd), ("reverse (jacrev)", jax.jacrev)):
                compiled = jax.jit(jac(f))
                compiled(x).block_until_ready()  # compile once, outside the timing
                ms = 1e3 * time_call(compiled, x, repeats=5, statistic="min")  # best of 5: least disturbed
                rows.append({"varying": varying, "size": size, "mode": mode, "ms": ms, "cpu": cpu,
                             "load_average_1min": os.getloadavg()[0]})
                print(rows[-1], flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(OUT, index=False, float_format="%.6g")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

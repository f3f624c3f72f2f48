"""Backends and compilation, measured: which backend Keras runs on, and what ``jax.jit`` costs and saves.

- ``backend_summary``: the backend Keras chose, where the choice came from, and the devices JAX sees.
- ``jit_timings``: the three costs of a jitted function, measured apart with JAX's ahead-of-time API:
  tracing (Python -> jaxpr), compilation (XLA -> machine code) and one run of the compiled code.
- ``TraceCounter``: a function that counts how often JAX traces it (once per new input shape or dtype).
- ``time_call``: the median wall time of a call, waiting for JAX's asynchronous results.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import jax


def backend_summary() -> dict:
    """``keras_backend`` (what Keras runs on), ``KERAS_BACKEND`` (the variable, or None), JAX's devices."""
    import keras  # dl4f/__init__.py has already set KERAS_BACKEND=jax when it was unset

    return {
        "keras_backend": keras.backend.backend(),
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND"),
        "jax_devices": [str(d) for d in jax.devices()],
    }


def _check_repeats(repeats: int) -> None:
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")


def time_call(fn: Callable, *args, repeats: int = 5, statistic: str = "median") -> float:
    """Seconds of ``fn(*args)`` over ``repeats`` calls, each waiting for its result (JAX runs asynchronously).

    ``statistic="median"`` (typical time) or ``"min"`` (the best run: the least disturbed by other processes
    on a shared machine, the usual choice to compare two implementations).
    """
    _check_repeats(repeats)
    if statistic not in ("median", "min"):
        raise ValueError(f"statistic must be 'median' or 'min', got {statistic!r}")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times) if statistic == "median" else min(times)


def jit_timings(fn: Callable, *args, repeats: int = 5) -> dict:
    """Seconds to trace, compile and run ``jax.jit(fn)`` on ``args``, and to run ``fn`` eagerly (op by op).

    Returns ``trace_s`` (``jax.jit(fn).trace``: run the Python once on abstract values, record a jaxpr),
    ``compile_s`` (XLA compiles the lowered program), ``run_s`` (median of ``repeats`` calls of the compiled
    program) and ``eager_s`` (median of ``repeats`` calls of ``fn`` without ``jit``).
    """
    _check_repeats(repeats)
    jitted = jax.jit(fn)
    start = time.perf_counter()
    traced = jitted.trace(*args)
    lowered = traced.lower()
    traced_at = time.perf_counter()
    compiled = lowered.compile()
    compiled_at = time.perf_counter()
    return {
        "trace_s": traced_at - start,
        "compile_s": compiled_at - traced_at,
        "run_s": time_call(compiled, *args, repeats=repeats),
        "eager_s": time_call(fn, *args, repeats=repeats),
    }


class TraceCounter:
    """Wrap ``fn`` so that ``jax.jit`` of it counts its traces: ``counter.traces`` after some calls.

    The Python body of a jitted function runs only when JAX traces it: on the first call and then once for
    every new combination of input shapes and dtypes (or of static arguments); other calls reuse the
    compiled program and never enter Python. ``counter.shapes`` lists the input shapes of each trace.
    """

    def __init__(self, fn: Callable):
        if not callable(fn):
            raise ValueError(f"TraceCounter wraps a function, got {type(fn).__name__}")
        self.fn = fn
        self.traces = 0
        self.shapes: list[tuple] = []
        self.jitted = jax.jit(self._traced)

    def _traced(self, *args):
        self.traces += 1
        self.shapes.append(tuple(getattr(a, "shape", ()) for a in args))
        return self.fn(*args)

    def __call__(self, *args):
        return self.jitted(*args)

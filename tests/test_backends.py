"""dl4f.backends: the backend report, jit timings, and trace counting under jax.jit."""

import time

import jax.numpy as jnp
import pytest

from dl4f import backends


def test_backend_summary_reports_jax():
    summary = backends.backend_summary()
    assert summary["keras_backend"] == "jax"
    assert summary["jax_devices"]


def test_jit_timings_are_positive_and_compilation_costs_more_than_a_run():
    def f(x):
        for _ in range(30):
            x = jnp.tanh(x * 1.01 + 0.1)
        return x.sum()

    t = backends.jit_timings(f, jnp.ones(1000), repeats=3)
    assert set(t) == {"trace_s", "compile_s", "run_s", "eager_s"}
    assert all(v > 0 for v in t.values())
    assert t["compile_s"] > t["run_s"]          # 30 fused ops: compiling is much dearer than one run
    assert t["eager_s"] > t["run_s"]            # 30 dispatches op by op vs one fused program


def test_trace_counter_retraces_only_on_new_shapes():
    counter = backends.TraceCounter(lambda x: (x**2).sum())
    for n in (3, 3, 4, 3, 4, 5):
        assert float(counter(jnp.ones(n))) == n
    assert counter.traces == 3
    assert counter.shapes == [((3,),), ((4,),), ((5,),)]


def test_time_call_min_is_at_most_the_median():
    calls = []

    def slow_then_fast():
        calls.append(1)
        t_end = time.perf_counter() + (0.02 if len(calls) == 1 else 0.001)
        while time.perf_counter() < t_end:
            pass
        return jnp.zeros(1)

    best = backends.time_call(slow_then_fast, repeats=3, statistic="min")
    assert len(calls) == 3
    assert 0.001 <= best < 0.015


def test_input_checks():
    with pytest.raises(ValueError, match="statistic"):
        backends.time_call(lambda: 1, statistic="mean")
    with pytest.raises(ValueError, match="repeats"):
        backends.time_call(lambda: 1, repeats=0)
    with pytest.raises(ValueError, match="function"):
        backends.TraceCounter(3)

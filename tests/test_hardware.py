"""dl4f.hardware: FLOP counts, the peak estimate from a cpuinfo text, timings and the roofline."""

import numpy as np
import pytest

import dl4f  # noqa: F401  (sets the Keras backend before anything imports keras)
from dl4f import hardware

SAMPLE_CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz
cpu MHz\t\t: 2100.000
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512dq

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz
cpu MHz\t\t: 2100.000
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512dq

processor\t: 2
model name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz
cpu MHz\t\t: 2100.000
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512dq

processor\t: 3
model name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz
cpu MHz\t\t: 2100.000
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512dq
"""
AVX2_CPUINFO = SAMPLE_CPUINFO.replace(" avx512f avx512dq", "")


def test_dense_flops_is_two_batch_in_out():
    assert hardware.dense_flops(32, 200, 100) == 2 * 32 * 200 * 100
    assert hardware.matmul_flops(3, 5, 7) == 210


def test_lstm_flops_counts_four_gates_per_step():
    # one step, one sample, d = 1, u = 2: [x, h] (1 x 3) @ (3 x 8) = 2 * 3 * 8 FLOPs
    assert hardware.lstm_flops(1, 1, 1, 2) == 48
    # linear in batch and steps
    assert hardware.lstm_flops(64, 200, 1, 100) == 64 * 200 * hardware.lstm_flops(1, 1, 1, 100)


def test_flop_counts_reject_bad_sizes():
    with pytest.raises(ValueError, match="positive integer"):
        hardware.dense_flops(0, 10, 10)
    with pytest.raises(ValueError, match="positive integer"):
        hardware.lstm_flops(8, 2.5, 1, 4)


def test_square_matmul_intensity_is_n_over_six_in_float32():
    for n in (6, 60, 1024):
        assert hardware.matmul_intensity(n, n, n) == pytest.approx(n / 6)
    assert hardware.matmul_intensity(64, 64, 64, bytes_per_value=2) == pytest.approx(64 / 3)


def test_parse_cpuinfo_reads_cpus_clock_and_flags():
    info = hardware.parse_cpuinfo(SAMPLE_CPUINFO)
    assert info["cpus"] == 4
    assert info["mhz"] == 2100.0
    assert "avx512f" in info["flags"] and "fma" in info["flags"]
    assert info["model"].startswith("Intel(R) Xeon(R) Gold 6130")


def test_peak_estimate_is_cores_times_clock_times_flops_per_cycle():
    peak = hardware.cpu_peak_gflops(SAMPLE_CPUINFO)
    # AVX-512: 16 float32 lanes x 2 (FMA) x 2 units = 64 FLOPs/cycle; 4 x 2.1 GHz x 64
    assert peak["flops_per_cycle"] == 64
    assert peak["peak_gflops"] == pytest.approx(4 * 2.1 * 64)
    assert hardware.cpu_peak_gflops(AVX2_CPUINFO)["flops_per_cycle"] == 32
    assert hardware.cpu_peak_gflops(SAMPLE_CPUINFO, dtype="float64")["flops_per_cycle"] == 32
    assert hardware.cpu_peak_gflops(SAMPLE_CPUINFO, fma_units=1)["peak_gflops"] == pytest.approx(4 * 2.1 * 32)
    assert hardware.cpu_peak_gflops(SAMPLE_CPUINFO, mhz=3000)["peak_gflops"] == pytest.approx(4 * 3.0 * 64)


def test_parse_cpuinfo_rejects_other_text():
    with pytest.raises(ValueError, match="/proc/cpuinfo"):
        hardware.parse_cpuinfo("hello")
    with pytest.raises(ValueError, match="cpu MHz"):
        hardware.parse_cpuinfo("processor : 0\nflags : avx\n")


def test_best_time_returns_the_fastest_call():
    calls = []
    durations = iter([0.0, 0.03, 0.01, 0.02] + [0.05] * 100)

    def fn():
        import time

        calls.append(1)
        time.sleep(next(durations))

    best = hardware.best_time(fn, budget_s=0.01, min_repeats=3)
    assert len(calls) >= 4  # warm-up + 3 timed calls
    assert 0.009 <= best < 0.02


def test_matmul_gflops_is_positive_and_finite():
    rate = hardware.matmul_gflops(64, budget_s=0.01)
    assert np.isfinite(rate) and rate > 0


def test_roofline_is_bandwidth_bound_then_flat():
    attainable = hardware.roofline([1, 10, 100], peak_gflops=500, bandwidth_gbs=20)
    np.testing.assert_allclose(attainable, [20, 200, 500])
    with pytest.raises(ValueError):
        hardware.roofline([1], peak_gflops=0, bandwidth_gbs=1)


def test_published_h100_figures_state_their_source():
    assert hardware.H100_SXM["source"].startswith("https://www.nvidia.com/")
    assert hardware.H100_SXM["tflops"]["BF16 Tensor Core"] > hardware.H100_SXM["tflops"]["FP32"]

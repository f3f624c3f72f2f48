"""How fast the arithmetic of a network can run: FLOP counts, the CPU's peak, timings, published GPU peaks.

- ``matmul_flops``, ``dense_flops``, ``lstm_flops``: floating-point operations of a layer's forward pass
  (a multiply-add counts as 2 FLOPs; a training step costs about 3 forward passes).
- ``matmul_intensity``: FLOPs per byte moved, the x-axis of the roofline model.
- ``parse_cpuinfo`` and ``cpu_peak_gflops``: the CPU's theoretical peak, cores x clock x FLOPs per cycle,
  read from ``/proc/cpuinfo`` (Linux) under a stated assumption on the number of FMA units per core.
- ``best_time``, ``matmul_gflops``, ``memory_bandwidth_gbs``: small timing helpers with a time budget.
- ``H100_SXM``: NVIDIA's published peaks for the H100 SXM (not measured here: no GPU on the course machine).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# NVIDIA H100 SXM, published figures (https://www.nvidia.com/en-us/data-center/h100/, "Specifications").
# The datasheet gives the Tensor Core figures "with sparsity" (2:4 structured sparsity); a dense matrix
# product gets half of them, which is what these numbers are. FLOP/s in TFLOP/s, bandwidth in TB/s.
H100_SXM = {
    "name": "NVIDIA H100 SXM (published)",
    "source": "https://www.nvidia.com/en-us/data-center/h100/",
    "tflops": {"FP64": 34.0, "FP32": 67.0, "TF32 Tensor Core": 494.5, "BF16 Tensor Core": 989.5},
    "memory_tbs": 3.35,  # HBM3
    "memory_gb": 80,
}


def _positive_ints(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


# --------------------------------------------------------------------------- FLOP counts


def matmul_flops(m: int, k: int, n: int) -> int:
    """FLOPs of ``(m, k) @ (k, n)``: ``m n`` outputs, each ``k`` multiply-adds, so ``2 m k n``."""
    _positive_ints(m=m, k=k, n=n)
    return 2 * int(m) * int(k) * int(n)


def dense_flops(batch: int, n_in: int, n_out: int) -> int:
    """FLOPs of ``Dense(n_out)`` on a batch of ``n_in``-vectors: the matrix product, ``2 batch n_in n_out``.

    The bias and the activation add ``O(batch n_out)``, negligible next to the product when ``n_in`` is
    more than a few units; they are not counted.
    """
    return matmul_flops(batch, n_in, n_out)


def lstm_flops(batch: int, steps: int, n_in: int, units: int) -> int:
    """Forward FLOPs of ``LSTM(units)`` over ``steps`` time steps: ``steps 2 batch (n_in + units) 4 units``.

    At each step the four gates are one product ``[x_t, h_{t-1}] (n_in + units, 4 units)``; the element-wise
    gate arithmetic (``O(batch units)`` per step) is not counted.
    """
    _positive_ints(steps=steps)
    return int(steps) * matmul_flops(batch, n_in + units, 4 * units)


def matmul_intensity(m: int, k: int, n: int, bytes_per_value: int = 4) -> float:
    """Arithmetic intensity of ``(m, k) @ (k, n)`` in FLOPs per byte, if each matrix crosses memory once.

    ``2 m k n / (bytes (m k + k n + m n))``: for square ``n x n`` matrices in float32, ``n / 6``.
    """
    _positive_ints(bytes_per_value=bytes_per_value)
    return matmul_flops(m, k, n) / (bytes_per_value * (m * k + k * n + m * n))


# --------------------------------------------------------------------------- the CPU's peak


def parse_cpuinfo(text: str) -> dict:
    """From the text of ``/proc/cpuinfo``: ``cpus`` (logical processors), ``model``, ``mhz``, ``flags`` (a set)."""
    if not isinstance(text, str) or "processor" not in text:
        raise ValueError("give the text of /proc/cpuinfo (Linux): it has one 'processor : N' block per CPU")
    cpus, model, mhz, flags = 0, "unknown", None, set()
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "processor":
            cpus += 1
        elif key == "model name" and model == "unknown":
            model = value
        elif key == "cpu MHz" and mhz is None:
            mhz = float(value)
        elif key == "flags" and not flags:
            flags = set(value.split())
    if mhz is None:
        raise ValueError("this cpuinfo has no 'cpu MHz' line: pass the clock to cpu_peak_gflops(mhz=...)")
    return {"cpus": cpus, "model": model, "mhz": mhz, "flags": flags}


def simd_lanes(flags, dtype: str = "float32") -> int:
    """Values per vector register from the instruction-set flags: AVX-512 512 bits, AVX 256, SSE 128."""
    bits = 512 if "avx512f" in flags else 256 if "avx" in flags else 128 if "sse2" in flags else 64
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return bits // (32 if dtype == "float32" else 64)


def flops_per_cycle(flags, dtype: str = "float32", fma_units: int = 2) -> int:
    """FLOPs one core can finish per cycle: lanes x 2 (a fused multiply-add) x FMA units.

    ``fma_units=2`` is the assumption: most x86 server cores since Haswell (Intel) and Zen (AMD) issue two
    vector FMAs per cycle. Some cores split a 512-bit instruction into two 256-bit halves (AMD Zen 4) or
    have a single 512-bit FMA unit (some Intel parts): their real peak is half of this estimate.
    """
    _positive_ints(fma_units=fma_units)
    per_instruction = 2 if "fma" in flags else 1
    return simd_lanes(flags, dtype) * per_instruction * fma_units


def cpu_peak_gflops(cpuinfo: str | None = None, *, dtype: str = "float32", fma_units: int = 2,
                    mhz: float | None = None) -> dict:
    """Theoretical peak of the CPU: ``cores x GHz x FLOPs/cycle`` in GFLOP/s, with the numbers that make it.

    ``cpuinfo`` is the text of ``/proc/cpuinfo`` (read from the machine when None). The clock is the one
    ``cpuinfo`` reports (nominal; turbo and AVX-512 down-clocking move it). Returns a dict with ``cpus``,
    ``ghz``, ``flops_per_cycle``, ``peak_gflops``, ``model`` and ``assumption``.
    """
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        if not path.exists():
            raise ValueError("no /proc/cpuinfo on this system (not Linux): pass its text, or the numbers, by hand")
        cpuinfo = path.read_text()
    info = parse_cpuinfo(cpuinfo)
    ghz = (mhz if mhz is not None else info["mhz"]) / 1000
    per_cycle = flops_per_cycle(info["flags"], dtype, fma_units)
    return {
        "model": info["model"],
        "cpus": info["cpus"],
        "ghz": ghz,
        "flops_per_cycle": per_cycle,
        "peak_gflops": info["cpus"] * ghz * per_cycle,
        "assumption": f"{fma_units} vector FMA units per core, {simd_lanes(info['flags'], dtype)} {dtype} lanes "
        f"per vector, every logical CPU a full core",
    }


# --------------------------------------------------------------------------- timings


def best_time(fn: Callable[[], object], *, budget_s: float = 0.5, min_repeats: int = 3) -> float:
    """Smallest wall-clock time of ``fn()`` over repeated calls, after one untimed warm-up call.

    Calls continue until ``budget_s`` seconds are spent (at least ``min_repeats`` calls). The minimum is
    the least disturbed run on a shared machine. ``fn`` must wait for its result (JAX: ``block_until_ready``).
    """
    if budget_s <= 0:
        raise ValueError(f"budget_s must be positive, got {budget_s!r}")
    _positive_ints(min_repeats=min_repeats)
    fn()  # warm-up: compilation, caches, memory allocation
    times, start = [], time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_gflops(n: int, *, dtype: str = "float32", budget_s: float = 0.3, m: int | None = None,
                  k: int | None = None) -> float:
    """Measured GFLOP/s of a compiled JAX product ``(m, k) @ (k, n)`` (square ``n x n`` by default)."""
    import jax
    import jax.numpy as jnp

    m = n if m is None else m
    k = n if k is None else k
    flops = matmul_flops(m, k, n)
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((m, k)), dtype=dtype)
    b = jnp.asarray(rng.standard_normal((k, n)), dtype=dtype)
    product = jax.jit(jnp.matmul)
    seconds = best_time(lambda: product(a, b).block_until_ready(), budget_s=budget_s)
    return flops / seconds / 1e9


def memory_bandwidth_gbs(n_bytes: int = 256 * 2**20, *, budget_s: float = 0.5) -> float:
    """Measured memory bandwidth in GB/s: a NumPy copy of ``n_bytes`` reads and writes each byte once."""
    _positive_ints(n_bytes=n_bytes)
    src = np.ones(n_bytes // 8)
    dst = np.empty_like(src)
    seconds = best_time(lambda: np.copyto(dst, src), budget_s=budget_s)
    return 2 * src.nbytes / seconds / 1e9


def roofline(intensity, peak_gflops: float, bandwidth_gbs: float) -> np.ndarray:
    """Attainable GFLOP/s at each arithmetic intensity (FLOPs/byte): ``min(peak, intensity x bandwidth)``."""
    if peak_gflops <= 0 or bandwidth_gbs <= 0:
        raise ValueError("peak_gflops and bandwidth_gbs must be positive")
    return np.minimum(peak_gflops, np.asarray(intensity, dtype=float) * bandwidth_gbs)

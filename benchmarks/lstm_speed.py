"""Seconds per epoch of LSTM(100) on the TP's problem size (3,734 windows of 200 days), after compilation.

Compares, in one run: keras.layers.LSTM at several batch sizes, dl4f.layers.GateLSTM (the gate-equation
cell driven by keras.ops.scan) and, with --loop, the same cell in a Python for-loop over the 200 steps
(what the TP's hint leads to: minutes of compilation under JAX). Synthetic inputs: only time is measured.

    python benchmarks/lstm_speed.py [--loop] [--epochs 2]
"""

from __future__ import annotations

import argparse
import time

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
import keras
# isort: on
import numpy as np
from keras import ops

from dl4f.layers import GateLSTM


class LoopLSTM(GateLSTM):
    """The same cell and weights, iterated with a Python for-loop (unrolled by JAX at trace time)."""

    def call(self, inputs):
        h = ops.zeros((ops.shape(inputs)[0], self.units))
        c = ops.zeros_like(h)
        for t in range(inputs.shape[1]):
            h, c = self.cell.step(inputs[:, t, :], h, c)
        return h


def seconds_per_epoch(layer, batch: int, epochs: int, X, y) -> tuple[float, float]:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(X.shape[1:]), layer, keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    t0 = time.perf_counter()
    model.fit(X[: 2 * batch], y[: 2 * batch], batch_size=batch, epochs=1, verbose=0)  # compile + 2 steps
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.fit(X, y, batch_size=batch, epochs=epochs, verbose=0)
    return first, (time.perf_counter() - t0) / epochs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--loop", action="store_true", help="also time the for-loop cell (slow: minutes)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.random((3734, 200, 1)).astype("float32")
    y = rng.random(3734).astype("float32")
    cases = [("keras LSTM", lambda: keras.layers.LSTM(100), b) for b in (32, 64, 256, 1024)]
    cases += [("keras GRU", lambda: keras.layers.GRU(100), 256), ("dl4f GateLSTM (scan)", lambda: GateLSTM(100), 256)]
    if args.loop:
        cases.append(("GateLSTM cell in a for-loop", lambda: LoopLSTM(100), 256))
    results = {}
    print(f"{'layer':30s} {'batch':>5s} {'compile+2 steps':>16s} {'s/epoch':>8s}")
    for name, make, batch in cases:
        first, per_epoch = seconds_per_epoch(make(), batch, args.epochs, X, y)
        results[(name, batch)] = per_epoch
        print(f"{name:30s} {batch:5d} {first:15.1f}s {per_epoch:8.2f}", flush=True)
    ref = results[("keras LSTM", 256)]
    print(f"\nratio GateLSTM / keras LSTM at batch 256: {results[('dl4f GateLSTM (scan)', 256)] / ref:.2f} (goal <= 2)")
    print(f"ratio keras LSTM batch 32 / batch 256: {results[('keras LSTM', 32)] / ref:.2f}")
    if args.loop:
        loop, scan = results[("GateLSTM cell in a for-loop", 256)], results[("dl4f GateLSTM (scan)", 256)]
        print(f"ratio for-loop / scan: {loop / scan:.1f}")


if __name__ == "__main__":
    main()

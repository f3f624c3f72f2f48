"""Time of one training step against the window length: LSTM vs causal convolutions (the RNN-limitations page).

One training step (forward, backward, Adam update) on a batch of 256 windows of length T, after compilation,
the fastest of ``--repeats`` steps (the minimum is the least disturbed by other processes on a shared
machine), for three models of width 32 on one input series:

- ``LSTM``: LSTM(32) -> Dense(1); about 2 (1 + 32) 4 32 = 8,448 forward FLOPs per time step (``hardware.lstm_flops``);
- ``Conv1D``: one causal Conv1D(32, kernel 5) -> global average -> Dense(1); 2 * 5 * 1 * 32 = 320 FLOPs per
  position, 26 times less arithmetic than the LSTM;
- ``Conv1D x2 (matched)``: Conv1D(32, 5) then Conv1D(32, 4) on its 32 channels: 320 + 2 * 4 * 32 * 32 = 8,512 FLOPs
  per position, the LSTM's arithmetic within 1 %, but every position computed at once.

Writes ``chapters/rnn/results/sequential_cost.csv`` (model, T, ms: timings only, synthetic inputs, no market
data), which ``chapters/rnn/rnn-limitations.qmd`` reads. Timings depend on the machine and its load.

    python benchmarks/sequential_cost.py [--repeats 15] [--out chapters/rnn/results/sequential_cost.csv]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
import keras
# isort: on
import numpy as np
import pandas as pd

LENGTHS = (25, 50, 100, 200, 400, 800)
BATCH, WIDTH = 256, 32


def lstm(T: int) -> keras.Sequential:
    return keras.Sequential([keras.Input((T, 1)), keras.layers.LSTM(WIDTH), keras.layers.Dense(1)])


def convolution(T: int) -> keras.Sequential:
    return keras.Sequential([keras.Input((T, 1)),
                             keras.layers.Conv1D(WIDTH, 5, padding="causal", activation="relu"),
                             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)])


def convolution_matched(T: int) -> keras.Sequential:
    return keras.Sequential([keras.Input((T, 1)),
                             keras.layers.Conv1D(WIDTH, 5, padding="causal", activation="relu"),
                             keras.layers.Conv1D(WIDTH, 4, padding="causal", activation="relu"),
                             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)])


MODELS = {"LSTM": lstm, "Conv1D": convolution, "Conv1D x2 (matched)": convolution_matched}


def step_time(build, T: int, repeats: int) -> float:
    """Fastest of ``repeats`` training steps on BATCH windows of length T (after compilation), in seconds."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, T, 1), dtype=np.float32)
    y = rng.random((BATCH, 1), dtype=np.float32)
    model = build(T)
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(x, y)  # compiles for this T
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t0)
    return float(np.min(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "chapters/rnn/results/sequential_cost.csv")
    args = parser.parse_args(argv)
    rows = []
    for T in LENGTHS:
        for name, build in MODELS.items():
            rows.append({"model": name, "T": T, "ms": 1000 * step_time(build, T, args.repeats)})
            print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.out, index=False, float_format="%.4g")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

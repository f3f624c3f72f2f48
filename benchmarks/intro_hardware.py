"""Seconds per training epoch of LSTM(100) on the RNN TP's windows, by batch size, and the GFLOP/s achieved.

Writes ``chapters/intro/results/lstm_epoch.csv`` (timings only, no market data), read by the chapter
"GPUs and Deep Learning: When Hardware Matters" (chapters/intro/gpus.qmd). Each batch size is timed on
the fastest of ``--repeats`` epochs after a warm-up epoch (which compiles the training step), on the TP's training windows.

    python benchmarks/intro_hardware.py [--units 100] [--repeats 2] [--out chapters/intro/results/lstm_epoch.csv]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
import keras
# isort: on
import numpy as np
import pandas as pd

from dl4f import hardware, models, tp_rnn

BATCH_SIZES = (16, 32, 64, 128, 256, 1024)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per batch size; the fastest is kept")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "chapters/intro/results/lstm_epoch.csv"))
    args = parser.parse_args()
    d = tp_rnn.load_data()
    X, y = d.X_train[..., None].astype("float32"), d.y_train.astype("float32")
    n, steps = X.shape[0], X.shape[1]
    peak = hardware.cpu_peak_gflops()
    rows = []
    for batch in BATCH_SIZES:
        keras.utils.set_random_seed(0)
        model = models.lstm(window=steps, units=args.units)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        model.fit(X, y, batch_size=batch, epochs=1, verbose=0)  # warm-up: compiles the step
        times, cpu_times = [], []
        for _ in range(args.repeats):  # the fastest epoch is the least disturbed one on a shared machine
            t0, c0 = time.perf_counter(), time.process_time()
            model.fit(X, y, batch_size=batch, epochs=1, verbose=0)
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
        seconds, cpu_seconds = min(times), min(cpu_times)
        forward = hardware.lstm_flops(n, steps, 1, args.units) + hardware.dense_flops(n, args.units, 1)
        rows.append({
            "batch_size": batch, "windows": n, "steps": steps, "units": args.units,
            "updates_per_epoch": int(np.ceil(n / batch)), "seconds_per_epoch": round(seconds, 3),
            "train_gflop_per_epoch": round(3 * forward / 1e9, 3),  # forward + backward ~ 3 forward passes
            "achieved_gflops": round(3 * forward / seconds / 1e9, 2),
            # CPU time of all the process's threads: the work done, hardly changed by other programs sharing
            # the cores (wall time is). On a quiet machine an epoch takes between cpu_seconds / cpus and cpu_seconds.
            "cpu_seconds_per_epoch": round(cpu_seconds, 3),
            "cpu": peak["model"], "cpus": peak["cpus"], "estimated_peak_gflops": round(peak["peak_gflops"], 1),
            # other programs competing for the cores slow every epoch down: the load is recorded with the timing
            "load_average_1min": round(os.getloadavg()[0], 1),
        })
        print(rows[-1], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

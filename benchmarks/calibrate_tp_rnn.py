"""Calibrate the R² thresholds of the RNN TP's hidden tests (dl4f_grading.tp_rnn.R2_THRESHOLDS).

For each seed, train every model of the TP the way the notebook does (``tp_rnn.train``: dl4f's recipe). Each
model's R² on the test split is printed as it comes, with the untrained model's R², then per model: mean, std,
min, max, and the threshold

    threshold = floor_0.01(min - 3 std)

which a correct solution passes with probability far above 99 % (min - 3 std lies beyond the 1 % quantile of
the observed spread), and which an untrained network (R² < 0) fails.

    python benchmarks/calibrate_tp_rnn.py [--seeds 10] [--models LSTM GRU ...]
"""

from __future__ import annotations

import argparse
import math
import time

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
import keras
# isort: on
import numpy as np
import pandas as pd

from dl4f import evaluation, models, tp_rnn, training
from dl4f_grading import tp_rnn as grading


def untrained_r2(name: str, data, seed: int) -> float:
    keras.utils.set_random_seed(seed)
    model = models.BUILDERS[name]()
    return evaluation.r2(data.y_test, training.predict(model, data.X_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--models", nargs="+",
                        default=["MLP", "LSTM", "GRU", "LSTM (2 layers)", "GRU (2 layers)"])
    args = parser.parse_args()
    data = tp_rnn.load_data()
    rows = []
    linear, _ = training.fit(models.linear_regression, data.X_train, data.y_train)
    r2_linear = evaluation.r2(data.y_test, training.predict(linear, data.X_test))
    print(f"Linear regression (closed form, no seed): R² = {r2_linear:.4f}", flush=True)
    t_start = time.perf_counter()
    for seed in range(args.seeds):
        for name in args.models:
            t0 = time.perf_counter()
            model, _ = tp_rnn.train(name, data, seed=seed)
            r2 = evaluation.r2(data.y_test, training.predict(model, data.X_test))
            seconds = time.perf_counter() - t0
            r2_0 = untrained_r2(name, data, seed)
            keras.backend.clear_session()
            rows.append({"seed": seed, "model": name, "r2": r2, "untrained_r2": r2_0, "seconds": seconds})
            print(f"seed {seed} {name:28s} R² {r2:.4f}  untrained {r2_0:9.4f}  ({seconds:.0f} s)", flush=True)
    table = pd.DataFrame(rows)
    summary = table.groupby("model", sort=False).agg(
        n=("r2", "size"), mean=("r2", "mean"), std=("r2", "std"), min=("r2", "min"), max=("r2", "max"),
        untrained_max=("untrained_r2", "max"), seconds=("seconds", "mean"),
    )
    summary["threshold"] = [math.floor((row["min"] - 3 * row["std"]) * 100) / 100 for _, row in summary.iterrows()]
    summary.loc["Linear regression"] = [1, r2_linear, 0.0, r2_linear, r2_linear, np.nan, 0.0,
                                        math.floor((r2_linear - 0.02) * 100) / 100]
    print(f"\n{args.seeds} seeds, {time.perf_counter() - t_start:.0f} s; epochs {tp_rnn.RECIPE['epochs']} "
          f"; current thresholds: {grading.R2_THRESHOLDS}\n")
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()

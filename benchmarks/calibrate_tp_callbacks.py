"""Calibrate the thresholds of the callbacks TP's grading (``dl4f_grading.tp_callbacks``) over several seeds.

For each seed, the TP's model (``dl4f.tp_callbacks.build_model(seed)``) is trained as the solution notebook trains
it: without callbacks, with early stopping, with ReduceLROnPlateau, with both (``reference_callbacks``), and with
early stopping on the validation QLIKE. Each model is scored on the test split (R², and QLIKE of the variance forecast
``(pi/2) f^2``, as ``tpc.qlike``). The thresholds are the
worst value over the seeds moved by 3 standard deviations (R² down, QLIKE up), rounded outwards to 0.05.

    DL4F_DATA_DIR=/tmp/dl4f-cache .venv/bin/python benchmarks/calibrate_tp_callbacks.py --seeds 12

Writes ``chapters/training/results/tp_callbacks_calibration.csv`` (one row per seed and model).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
import keras
# isort: on
import numpy as np
import pandas as pd

from dl4f import tp_callbacks as tpc
from dl4f_grading.tp_callbacks import reference_callbacks

OUT = Path(__file__).resolve().parents[1] / "chapters" / "training" / "results" / "tp_callbacks_calibration.csv"


class QLikeStop(keras.callbacks.Callback):
    """The solution's early stopping on the validation QLIKE (restores the best epoch's weights)."""

    def __init__(self, validation_data, patience=tpc.PATIENCE):
        super().__init__()
        self.X, self.y = validation_data
        self.patience = patience

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.best_weights = np.inf, 0, None

    def on_epoch_end(self, epoch, logs=None):
        score = tpc.qlike(self.y, self.model.predict(self.X, verbose=0))
        if score < self.best:
            self.best, self.wait, self.best_weights = score, 0, self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def run(seeds: int, out: Path | None = None) -> pd.DataFrame:
    """The calibration table; with ``out``, also written after each seed (a long run keeps what it measured)."""
    data = tpc.load_data()
    rows = []
    for seed in range(seeds):
        for kind in (*tpc.KINDS, "qlike"):
            t0 = time.perf_counter()
            model = tpc.build_model(seed)
            callbacks = [QLikeStop((data.X_val, data.y_val))] if kind == "qlike" else reference_callbacks(kind)
            history = tpc.train(model, data, callbacks, tpc.EPOCHS)
            pred = tpc.predict(model, data.X_test)
            rows.append({"seed": seed, "model": kind, "epochs": len(history["loss"]), "r2": tpc.r2(data.y_test, pred),
                         "qlike": tpc.qlike(data.y_test, pred), "seconds": time.perf_counter() - t0})
            print(rows[-1], flush=True)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(out, index=False, float_format="%.5f")
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    args = parser.parse_args()
    table = run(args.seeds, OUT)
    summary = table.groupby("model")[["epochs", "r2", "qlike", "seconds"]].agg(["mean", "std", "min", "max"])
    print(summary.round(4).to_string())
    r2 = table[table.model != "qlike"]["r2"]
    ql = table[table.model == "qlike"]["qlike"]
    print(f"R2 threshold: {math.floor((r2.min() - 3 * r2.std()) * 20) / 20:.2f} (min {r2.min():.4f}, std {r2.std():.4f})")
    print(f"QLIKE threshold: {math.ceil((ql.max() + 3 * ql.std()) * 20) / 20:.2f} (max {ql.max():.4f}, std {ql.std():.4f})")


if __name__ == "__main__":
    main()

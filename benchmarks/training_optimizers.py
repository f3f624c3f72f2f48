"""One network, five optimizers, and a learning-rate grid: the training runs of ``chapters/training/optimizers.qmd``.

The page checks the update rules against Keras itself (fast) and reads the training runs from three CSVs under
``chapters/training/results/`` (about 1 minute on 2 idle CPU cores, 3-5 on busy ones):

- ``optimizers_runs.csv``: one row per epoch and optimizer (loss, val_loss, seconds of the whole run);
- ``optimizers_forecasts.csv``: the test forecasts of each optimizer's model (last epoch) and of linear
  regression on the same 20 lags, one row per test day (its date), in percent: forecasts, not market data;
- ``optimizers_lr_grid.csv``: validation R² and std of the forecasts of four optimizers at four learning rates.

The task is the RNN TP's with 20-day windows of absolute S&P 500 returns in percent (``tp_rnn.load_data(window=20)``);
the network a two-layer MLP of 32 units from the same initial weights (seed 0) for every optimizer.

    python benchmarks/training_optimizers.py [--out-dir chapters/training/results]
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

from dl4f import evaluation, models, tp_rnn, training, training_loop

EPOCHS, BATCH = 12, 64
SETTINGS = {"SGD": 1e-2, "SGD + momentum": 1e-2, "RMSProp": 1e-3, "Adam": 1e-3, "AdamW": 1e-3}
GRID_OPTIMIZERS = ("SGD", "SGD + momentum", "RMSProp", "Adam")
GRID_RATES = (1e-4, 1e-3, 1e-2, 1e-1)
GRID_EPOCHS = 4
WEIGHT_DECAY = 0.1


def optimizer(name: str, eta: float) -> keras.optimizers.Optimizer:
    """The optimizers of the chapter, at learning rate ``eta`` (AdamW with weight decay ``WEIGHT_DECAY``)."""
    return {
        "SGD": lambda: keras.optimizers.SGD(eta),
        "SGD + momentum": lambda: keras.optimizers.SGD(eta, momentum=0.9),
        "RMSProp": lambda: keras.optimizers.RMSprop(eta),
        "Adam": lambda: keras.optimizers.Adam(eta),
        "AdamW": lambda: keras.optimizers.AdamW(eta, weight_decay=WEIGHT_DECAY),
    }[name]()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out-dir", type=Path, default=Path("chapters/training/results"))
    args = parser.parse_args()
    d = tp_rnn.load_data(window=20)
    keras.utils.set_random_seed(0)
    init = models.mlp(window=20, units=32, depth=2).get_weights()

    runs, forecasts = [], {"date": d.test_dates}
    for name, eta in SETTINGS.items():
        model = models.mlp(window=20, units=32, depth=2)
        model.set_weights(init)
        model.compile(optimizer=optimizer(name, eta), loss="mse")
        t0 = time.perf_counter()
        model, history = training.fit(model, d.X_train, d.y_train, seed=0, epochs=EPOCHS, batch_size=BATCH,
                                      validation_split=0.2, callbacks=[])
        seconds = time.perf_counter() - t0
        for epoch, (loss, val_loss) in enumerate(zip(history["loss"], history["val_loss"], strict=True), start=1):
            runs.append({"optimizer": name, "learning_rate": eta, "epoch": epoch, "loss": loss,
                         "val_loss": val_loss, "seconds": round(seconds, 2)})
        forecasts[name] = training.predict(model, d.X_test)
        print(name, f"{seconds:.1f} s, test R2 {evaluation.r2(d.y_test, forecasts[name]):.4f}", flush=True)
    ols = training.fit(models.linear_regression(), d.X_train, d.y_train)[0]
    forecasts["linear regression"] = training.predict(ols, d.X_test)

    n_fit = int(0.8 * len(d.X_train))
    X_fit, y_fit = d.X_train[:n_fit], d.y_train[:n_fit]
    X_val, y_val = d.X_train[n_fit:], d.y_train[n_fit:]
    grid = []
    for name in GRID_OPTIMIZERS:
        for eta in GRID_RATES:
            model = models.mlp(window=20, units=32, depth=2)
            model.set_weights(init)
            training_loop.fit(model, X_fit, y_fit, optimizer=optimizer(name, eta), epochs=GRID_EPOCHS,
                              batch_size=BATCH)
            pred = training.predict(model, X_val)
            r2 = evaluation.r2(y_val, pred) if np.isfinite(pred).all() else np.nan  # NaN: training diverged
            grid.append({"optimizer": name, "learning_rate": eta, "val_r2": r2, "forecast_std": float(np.std(pred)),
                         "target_std": float(np.std(y_val))})
            print(grid[-1], flush=True)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(runs).to_csv(args.out_dir / "optimizers_runs.csv", index=False)
    pd.DataFrame(forecasts).to_csv(args.out_dir / "optimizers_forecasts.csv", index=False, float_format="%.6g")
    pd.DataFrame(grid).to_csv(args.out_dir / "optimizers_lr_grid.csv", index=False, float_format="%.6g")
    print(f"wrote {args.out_dir}/optimizers_*.csv")


if __name__ == "__main__":
    main()

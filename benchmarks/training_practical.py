"""Walk-forward forecasts and regularised MLPs: the stored runs of ``chapters/training/practical-considerations.qmd``.

Writes two CSVs of forecasts (absolute returns in percent: forecasts, not market data) under
``chapters/training/results/``; the page rebuilds the targets from the cache and scores them:

- ``walk_forward_forecasts.csv``: one row per test day of the expanding walk-forward (5 folds after the first 2,500
  windows of 2000-2023): ``index`` (position among all 20-day windows), ``date``, ``fold``, and the forecasts of
  linear regression and of the MLP (2 x 32, Adam 1e-3, 3 epochs in time order by ``dl4f.training_loop.fit``, seed 0),
  each refitted on everything before its fold's test block.
- ``regularisation_forecasts.csv``: one row per test day (from March 2019) of the chronological split: the forecasts
  of the MLP (2 x 32) trained with seeds 0-4 three ways: plain (Adam 1e-3), with dropout 0.2 after each hidden
  layer, and with decoupled weight decay (AdamW 1e-3, ``weight_decay=1.0``: 1e-3 of each weight per step, about a
  quarter over the run); at most 6 epochs, batches of 64, keeping the epoch with the lowest validation loss (last
  20 % of the training windows), as ``benchmarks/training_seeds.py``.
- ``scale_leak_forecasts.csv``: one row per test day of the chronological split: the forecasts (in percent) of the
  MLP trained 4 epochs in time order (``dl4f.training_loop.fit``, Adam 1e-3) on inputs and target in raw units, in
  percent, and in percent with standardised inputs (seed 0); and with inputs and target standardised by the
  training statistics or by the full-sample statistics (seeds 0 and 1).

About 4 minutes on 2 idle CPU cores.

    python benchmarks/training_practical.py [--out-dir chapters/training/results] [--seeds 5]
        [--parts walk_forward regularisation scale_leak]
"""

from __future__ import annotations

import argparse
from pathlib import Path

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
import keras
# isort: on
import numpy as np
import pandas as pd

from dl4f import evaluation, models, tp_rnn, training, training_loop
from dl4f.validation import standardise, walk_forward_splits

WINDOW, UNITS = 20, 32
N_FOLDS, MIN_TRAIN, WF_EPOCHS = 5, 2500, 3
EPOCHS, BATCH, DROPOUT, WEIGHT_DECAY = 6, 64, 0.2, 1.0
PARTS = {"walk_forward": "walk_forward_forecasts.csv", "regularisation": "regularisation_forecasts.csv",
         "scale_leak": "scale_leak_forecasts.csv"}


def mlp(dropout: float = 0.0) -> keras.Sequential:
    """``models.mlp(window=20, units=32, depth=2)``, with ``Dropout(dropout)`` after each hidden layer if > 0."""
    if dropout == 0:
        return models.mlp(window=WINDOW, units=UNITS, depth=2)
    return keras.Sequential([keras.Input((WINDOW,)),
                             keras.layers.Dense(UNITS, activation="relu"), keras.layers.Dropout(dropout),
                             keras.layers.Dense(UNITS, activation="relu"), keras.layers.Dropout(dropout),
                             keras.layers.Dense(1)], name="mlp_dropout")


def walk_forward(d) -> pd.DataFrame:
    X_all = np.concatenate([d.X_train, d.X_test])
    y_all = np.concatenate([d.y_train, d.y_test])
    dates = pd.DatetimeIndex(d.returns.index[WINDOW:])  # target date of each window
    rows = []
    for k, (train_idx, test_idx) in enumerate(walk_forward_splits(len(y_all), n_folds=N_FOLDS, min_train=MIN_TRAIN)):
        ols = training.fit(models.linear_regression(), X_all[train_idx], y_all[train_idx])[0]
        keras.utils.set_random_seed(0)
        net = mlp()
        training_loop.fit(net, X_all[train_idx], y_all[train_idx], optimizer=keras.optimizers.Adam(1e-3),
                          epochs=WF_EPOCHS, batch_size=BATCH)
        rows.append(pd.DataFrame({"index": test_idx, "date": dates[test_idx], "fold": k + 1,
                                  "linear regression": training.predict(ols, X_all[test_idx]),
                                  "MLP": training.predict(net, X_all[test_idx])}))
        print(f"fold {k + 1}: {len(test_idx)} test days", flush=True)
    return pd.concat(rows, ignore_index=True)


def regularised(d, seeds: int) -> pd.DataFrame:
    out = {"date": d.test_dates}
    variants = {
        "plain": (0.0, lambda: keras.optimizers.Adam(1e-3)),
        "dropout": (DROPOUT, lambda: keras.optimizers.Adam(1e-3)),
        "weight decay": (0.0, lambda: keras.optimizers.AdamW(1e-3, weight_decay=WEIGHT_DECAY)),
    }
    for name, (dropout, make_optimizer) in variants.items():
        for seed in range(seeds):
            keras.utils.set_random_seed(seed)
            net = mlp(dropout)
            net.compile(optimizer=make_optimizer(), loss="mse")
            net, _ = training.fit(net, d.X_train, d.y_train, seed=seed, epochs=EPOCHS, batch_size=BATCH,
                                  validation_split=0.2,
                                  callbacks=[keras.callbacks.EarlyStopping(patience=EPOCHS, restore_best_weights=True)])
            out[f"{name} {seed}"] = training.predict(net, d.X_test)
            print(name, seed, f"test R2 {evaluation.r2(d.y_test, out[f'{name} {seed}']):.4f}", flush=True)
    return pd.DataFrame(out)


def train_mlp(X, y, seed: int = 0, epochs: int = 4) -> keras.Model:
    """The page's ``train_mlp``: the MLP from ``seed``, trained in time order by dl4f's JAX loop."""
    keras.utils.set_random_seed(seed)
    net = mlp()
    training_loop.fit(net, X, y, optimizer=keras.optimizers.Adam(1e-3), epochs=epochs, batch_size=BATCH)
    return net


def scale_and_leak(d) -> pd.DataFrame:
    out = {"date": d.test_dates}
    raw = tp_rnn.load_data(window=WINDOW, percent=False)
    Xz_train, Xz_test, _ = standardise(d.X_train, d.X_test)
    versions = {"raw": (raw.X_train, raw.y_train, raw.X_test, 100.0),
                "percent": (d.X_train, d.y_train, d.X_test, 1.0),
                "percent, inputs standardised": (Xz_train, d.y_train, Xz_test, 1.0)}
    for name, (Xtr, ytr, Xte, to_percent) in versions.items():
        out[name] = to_percent * training.predict(train_mlp(Xtr, ytr), Xte)
    series = 100 * d.returns
    train_days = series[series.index < d.test_dates[0]]
    stats = {"training statistics": (float(train_days.mean()), float(train_days.std())),
             "full-sample statistics": (float(series.mean()), float(series.std()))}
    for seed in (0, 1):
        for label, (m, sd) in stats.items():
            net = train_mlp((d.X_train - m) / sd, (d.y_train - m) / sd, seed=seed)
            out[f"{label} {seed}"] = m + sd * training.predict(net, (d.X_test - m) / sd)
    print("scale and leak: done", flush=True)
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out-dir", type=Path, default=Path("chapters/training/results"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    args = parser.parse_args()
    d = tp_rnn.load_data(window=WINDOW)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for part in args.parts:
        table = walk_forward(d) if part == "walk_forward" else regularised(d, args.seeds) if part == "regularisation" \
            else scale_and_leak(d)
        table.to_csv(args.out_dir / PARTS[part], index=False, float_format="%.6g")
        print(f"wrote {args.out_dir / PARTS[part]}", flush=True)


if __name__ == "__main__":
    main()

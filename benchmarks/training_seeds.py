"""Run-to-run variance on the volatility task: test R² over seeds, for two small models and three batch sizes.

Writes ``chapters/training/results/seeds.csv`` (one row per run: model, batch_size, seed, epochs, best_epoch,
test_r2, seconds), read by ``chapters/training/practical-considerations.qmd``. The task is the RNN TP's with
20-day windows of absolute S&P 500 returns in percent (``dl4f.tp_rnn.load_data(window=20)``); each run trains
at most ``--epochs`` epochs with Adam (1e-3) and keeps the epoch with the lowest loss on the chronological
validation split (the last 20 % of the training windows). About 10 minutes on 2 busy CPU cores.

    python benchmarks/training_seeds.py [--seeds 5] [--epochs 6] [--out chapters/training/results/seeds.csv]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
import keras
# isort: on
import pandas as pd

from dl4f import evaluation, models, tp_rnn, training

MODELS = {
    "MLP (2 x 32)": training.make_builder(models.mlp, window=20, units=32, depth=2),
    "LSTM(16)": training.make_builder(models.lstm, window=20, units=16),
}
BATCH_SIZES = (16, 64, 256)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("chapters/training/results/seeds.csv"))
    args = parser.parse_args()
    data = tp_rnn.load_data(window=20)
    rows = []
    for name, build in MODELS.items():
        for batch_size in BATCH_SIZES:
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                model, history = training.fit(
                    build, data.X_train, data.y_train, seed=seed, epochs=args.epochs, batch_size=batch_size,
                    learning_rate=1e-3, validation_split=0.2,
                    callbacks=[keras.callbacks.EarlyStopping(patience=args.epochs, restore_best_weights=True)],
                )
                seconds = time.perf_counter() - t0
                best = min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__)
                r2 = evaluation.r2(data.y_test, training.predict(model, data.X_test))
                rows.append({"model": name, "batch_size": batch_size, "seed": seed, "epochs": len(history["loss"]),
                             "best_epoch": best + 1, "test_r2": round(r2, 5), "seconds": round(seconds, 2)})
                print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.out, index=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

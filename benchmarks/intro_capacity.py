"""Train and validation loss of MLPs of growing width on the RNN TP's task, epoch by epoch.

Writes ``chapters/intro/results/capacity.csv`` (losses only, no market data), read by the chapter
"Model Training Fundamentals" (chapters/intro/training-fundamentals.qmd): one row per width, seed and
epoch, with the training MSE, the validation MSE (the last 20 % of the training windows, chronological)
and, on the last epoch's rows, the test R². MLP: two ReLU layers of ``width`` units on the 200-day window,
Adam 1e-3, batch 64, no early stopping.

    python benchmarks/intro_capacity.py [--epochs 60] [--seeds 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
from dl4f import evaluation, models, tp_rnn, training

WIDTHS = (1, 4, 16, 64, 256, 1024)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "chapters/intro/results/capacity.csv"))
    args = parser.parse_args()
    d = tp_rnn.load_data()
    rows = []
    for width in WIDTHS:
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            model, history = training.fit(
                training.make_builder(models.mlp, window=d.X_train.shape[1], units=width, depth=2),
                d.X_train, d.y_train, seed=seed, epochs=args.epochs, batch_size=64, learning_rate=1e-3,
                validation_split=0.2, callbacks=[],
            )
            r2 = evaluation.r2(d.y_test, training.predict(model, d.X_test))
            for epoch, (loss, val) in enumerate(zip(history["loss"], history["val_loss"], strict=True), 1):
                rows.append({"width": width, "parameters": model.count_params(), "seed": seed, "epoch": epoch,
                             "train_mse": loss, "val_mse": val, "test_r2": r2 if epoch == args.epochs else None})
            print(f"width {width:5d} seed {seed}: train {history['loss'][-1]:.3f} val {history['val_loss'][-1]:.3f} "
                  f"(best {min(history['val_loss']):.3f}) test R² {r2:.3f}  {time.perf_counter() - t0:.0f} s", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False, float_format="%.6g")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

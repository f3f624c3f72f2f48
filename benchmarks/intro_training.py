"""The over-fitting run of the chapter "Model Training Fundamentals" (chapters/intro/training-fundamentals.qmd).

One wide MLP (``dl4f.models.mlp``, two ReLU layers of 256 units on the 200-day window) trained 15 epochs with
``dl4f.training.fit`` (seed 0, batch 64, its defaults: Adam 1e-3, the last 20 % of the training windows for
validation, no early stopping), keeping the weights of every epoch. Writes under ``chapters/intro/results/``
(model outputs only, no market data), read by the page:

- ``training_overfit.csv``: one row per epoch: training and validation MSE, the parameter count and the
  training time of the run (seconds, this machine);
- ``training_overfit_predictions.csv``: one row per test day: the network's forecast after epoch 15 and with
  the weights of the epoch of lowest validation loss (what early stopping keeps).

    python benchmarks/intro_training.py
"""

from __future__ import annotations

import time
from pathlib import Path

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
import keras
# isort: on
import numpy as np
import pandas as pd

from dl4f import models, tp_rnn, training

RESULTS = Path(__file__).resolve().parents[1] / "chapters" / "intro" / "results"
UNITS, DEPTH, EPOCHS, BATCH, SEED = 256, 2, 15, 64, 0


class KeepWeights(keras.callbacks.Callback):
    """Store the model's weights at the end of each epoch."""

    def __init__(self):
        super().__init__()
        self.by_epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.by_epoch.append(self.model.get_weights())


def main() -> None:
    d = tp_rnn.load_data()
    t0 = time.perf_counter()
    keep = KeepWeights()
    model, history = training.fit(training.make_builder(models.mlp, window=d.X_train.shape[1], units=UNITS, depth=DEPTH),
                                  d.X_train, d.y_train, seed=SEED, epochs=EPOCHS, batch_size=BATCH, callbacks=[keep])
    seconds = time.perf_counter() - t0
    best = int(np.argmin(history["val_loss"]))
    pred_last = training.predict(model, d.X_test)
    model.set_weights(keep.by_epoch[best])
    pred_best = training.predict(model, d.X_test)
    RESULTS.mkdir(parents=True, exist_ok=True)
    epochs = pd.DataFrame({"epoch": np.arange(1, len(history["loss"]) + 1), "train_mse": history["loss"],
                           "val_mse": history["val_loss"], "parameters": model.count_params(),
                           "train_seconds": seconds})
    epochs.to_csv(RESULTS / "training_overfit.csv", index=False, float_format="%.9g")
    preds = pd.DataFrame({"date": d.test_dates.strftime("%Y-%m-%d"), "pred_last_epoch": pred_last,
                          "pred_best_epoch": pred_best})
    preds.to_csv(RESULTS / "training_overfit_predictions.csv", index=False, float_format="%.9g")
    print(f"best epoch {best + 1}, {seconds:.0f} s; wrote training_overfit.csv and training_overfit_predictions.csv")


if __name__ == "__main__":
    main()

"""The two measurements of the chapter "Activation Functions" (chapters/intro/activations.qmd), stored.

Writes two CSVs under ``chapters/intro/results/`` (measurements only, no market data), read by the page:

- ``activations_gradients.csv``: the norm of the MSE gradient with respect to each hidden layer's weights of a
  20-layer MLP of 64 units at initialisation, on the last 1,024 training windows of the RNN TP (last 20 days of
  |r| in percent, next day's |r| as target), for each activation, initialisation (Glorot, He) and seed (3).
  One row per init, activation, seed and layer.
- ``activations_dead_relu.csv``: the TP's MLP (``dl4f.models.mlp``, three ReLU layers of 64 units) trained 3
  epochs with Adam at three learning rates (seed 0, batch 128): the share of dead units per layer at
  initialisation and after training, the test R², and the Diebold-Mariano test of its daily squared errors
  against the network trained at lr 1e-3. One row per learning rate.

    python benchmarks/intro_activations.py
"""

from __future__ import annotations

import time
from pathlib import Path

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
import keras
# isort: on
import pandas as pd

from dl4f import activations, evaluation, models, tp_rnn, training

RESULTS = Path(__file__).resolve().parents[1] / "chapters" / "intro" / "results"
DEPTH, WIDTH, SEEDS, DAYS, WINDOWS = 20, 64, 3, 20, 1024
LEARNING_RATES, EPOCHS, UNITS, LAYERS = (1e-3, 1e-2, 1e-1), 3, 64, 3
REFERENCE_LR = 1e-3


def gradient_norms(d) -> pd.DataFrame:
    X, y = d.X_train[-WINDOWS:, -DAYS:], d.y_train[-WINDOWS:]  # 20-day windows of |r| (%), next-day target
    rows = []
    for init in ("glorot", "he"):
        for name in activations.ACTIVATIONS:
            for seed in range(SEEDS):
                params = activations.init_stack(DAYS, WIDTH, DEPTH, init=init, seed=seed)
                norms = activations.layer_gradient_norms(name, X, y, params)
                rows += [{"init": init, "activation": name, "seed": seed, "layer": layer, "grad_norm": g}
                         for layer, g in enumerate(norms, 1)]
    return pd.DataFrame(rows)


def dead_relu(d) -> pd.DataFrame:
    rows, preds = [], {}
    for lr in LEARNING_RATES:
        keras.utils.set_random_seed(0)
        mlp = models.mlp(window=d.X_train.shape[1], units=UNITS, depth=LAYERS)
        dead_at_init = activations.dead_unit_fraction(mlp, d.X_train)
        mlp.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
        mlp.fit(d.X_train, d.y_train, epochs=EPOCHS, batch_size=128, verbose=0)
        dead = activations.dead_unit_fraction(mlp, d.X_train)
        preds[lr] = training.predict(mlp, d.X_test)
        row = {"lr": lr, "epochs": EPOCHS, "test_r2": evaluation.r2(d.y_test, preds[lr])}
        row.update({f"dead_init_{k}": f for k, f in enumerate(dead_at_init, 1)})
        row.update({f"dead_{k}": f for k, f in enumerate(dead, 1)})
        rows.append(row)
    reference = evaluation.losses(d.y_test, preds[REFERENCE_LR])
    for row in rows:
        if row["lr"] == REFERENCE_LR:
            continue
        dm = evaluation.diebold_mariano(evaluation.losses(d.y_test, preds[row["lr"]]), reference)
        row.update({"dm_stat": dm.stat, "dm_pvalue": dm.pvalue, "dm_mean_diff": dm.mean_diff, "dm_lags": dm.lags})
    return pd.DataFrame(rows)


def main() -> None:
    d = tp_rnn.load_data()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name, measure in (("activations_gradients", gradient_norms), ("activations_dead_relu", dead_relu)):
        t0 = time.perf_counter()
        table = measure(d)
        out = RESULTS / f"{name}.csv"
        table.to_csv(out, index=False, float_format="%.9g")
        print(f"wrote {out} ({len(table)} rows, {time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

"""Calibrate the R² thresholds of the introductory TP (``dl4f_grading.tp_intro``) over several seeds.

Trains the TP's two networks exactly as the solution does (``dl4f.tp_intro``'s recipe: Adam, batch 64, the best
validation epoch) for each seed, at the recipe's epochs and at 1 epoch (the instructor's quick runs), scores them on
the test split with the VIX aligned by the grader's ``reference_vix_before``, and writes one row per (model, epochs,
seed) into ``chapters/intro/results/tp_intro_calibration.csv`` with a summary on stdout. A threshold is
``min - 3 std`` over the seeds, rounded down to 0.01.

    DL4F_DATA_DIR=/tmp/dl4f-cache .venv/bin/python benchmarks/calibrate_tp_intro.py --seeds 10
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
import keras
# isort: on
from calibration import write_summary
from sklearn.linear_model import LinearRegression

from dl4f import evaluation
from dl4f import tp_intro as tpi
from dl4f_grading.tp_intro import reference_vix_before

OUT = Path(__file__).resolve().parents[1] / "chapters" / "intro" / "results" / "tp_intro_calibration.csv"


def mlp():
    return keras.Sequential([keras.Input((tpi.WINDOW,)), keras.layers.Dense(tpi.HIDDEN, activation="relu"),
                             keras.layers.Dense(1)])


def two_inputs():
    a, b = keras.Input((tpi.WINDOW,)), keras.Input((1,))
    x = keras.layers.Dense(tpi.HIDDEN, activation="relu")(keras.layers.Concatenate()([a, b]))
    return keras.Model([a, b], keras.layers.Dense(1)(x))


def train(build, X, y, seed: int, epochs: int):
    keras.utils.set_random_seed(seed)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(tpi.learning_rate()), loss="mse")
    model.fit(X, y, **tpi.fit_kwargs(epochs))
    return model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    data, vix = tpi.load_data(), tpi.load_vix()
    V_train = reference_vix_before(vix, data.dates_train)[:, None] * tpi.VIX_SCALE
    V_test = reference_vix_before(vix, data.dates_test)[:, None] * tpi.VIX_SCALE
    linear = LinearRegression().fit(data.X_train, data.y_train)
    rows = [{"model": "Linear regression", "epochs": 0, "seed": -1,
             "r2": evaluation.r2(data.y_test, linear.predict(data.X_test)), "seconds": 0.0}]
    for epochs in (tpi.RECIPE["epochs"], 1):
        for seed in range(args.seeds):
            for name, build, X_tr, X_te in (("MLP", mlp, data.X_train, data.X_test),
                                            ("MLP + VIX", two_inputs, [data.X_train, V_train], [data.X_test, V_test])):
                t0 = time.perf_counter()
                model = train(build, X_tr, data.y_train, seed, epochs)
                pred = model.predict(X_te, batch_size=2048, verbose=0).reshape(-1)
                rows.append({"model": name, "epochs": epochs, "seed": seed, "r2": evaluation.r2(data.y_test, pred),
                             "seconds": time.perf_counter() - t0})
                print(rows[-1], flush=True)
    write_summary(rows, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

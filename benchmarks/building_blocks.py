"""Test R² over several seeds of the building-blocks chapters' models on the RNN TP's volatility task.

The task: next-day absolute S&P 500 return (percent) from the 200 previous ones, the TP's chronological split
(``dl4f.tp_rnn.load_data``). Every network trains with ``dl4f.tp_rnn.fit_kwargs`` (Adam 1e-3, batch 64, the
last 20 % of the training windows for validation, the best validation epoch kept). The closed-form
baselines (linear regression on the 200 lags; HAR and GARCH(1,1) from ``dl4f.baselines``) have no seed.

Writes (the pages read them; no market data in them):

- ``chapters/building-blocks/results/residual_volatility.csv``: plain MLP, residual MLP, GRN stack;
- ``chapters/building-blocks/results/tcn_volatility.csv``: the causal TCN;
- ``<part>_volatility_predictions.csv``: every model's (and every seed's) forecast of each test day, indexed by
  date, so that a page can test the differences between models on the per-day losses
  (``dl4f.evaluation.compare``). The realised values are not stored (market data): the pages reload them.

    python benchmarks/building_blocks.py [--seeds 5] [--only residual|tcn]

Measured with 5 seeds: 135 s of CPU time in all (a third for the residual part, two thirds for the TCN);
8 minutes of wall-clock time on 2 CPU cores shared with other jobs. The runs are deterministic: the same
command gives the same R² to the last digit on the same machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
# isort: on
import numpy as np
import pandas as pd

from dl4f import baselines, blocks, evaluation, models, tcn, tp_rnn, training

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "chapters" / "building-blocks" / "results"
WINDOW = tp_rnn.WINDOW

# name -> (builder, epochs); the pages build the same models with the same arguments
RESIDUAL_MODELS = {
    "MLP, 8 Dense layers": (lambda: blocks.plain_mlp(WINDOW, width=64, depth=8), 10),
    "Residual MLP, 8 Dense layers": (lambda: blocks.residual_mlp(WINDOW, width=64, depth=8), 10),
    "GRN x 2": (lambda: blocks.grn_mlp(WINDOW, width=64, n_blocks=2), 10),
}
TCN_MODELS = {
    "Causal TCN": (lambda: tcn.causal_tcn(WINDOW, filters=16, kernel_size=3, convs_per_block=2), 8),
}


def closed_form_baselines(d, forecasts_out: dict) -> list[dict]:
    """Linear regression on the 200 lags, HAR and GARCH(1,1) (``dl4f.baselines``), fitted on the training period.

    Their test forecasts are added to ``forecasts_out`` under the model's name.
    """
    linear, _ = training.fit(models.linear_regression(), d.X_train, d.y_train)
    forecasts = {"Linear regression, 200 lags": training.predict(linear, d.X_test), **baselines.tp_baselines(d)}
    forecasts_out.update(forecasts)
    n_parameters = {"Linear regression, 200 lags": d.X_train.shape[1] + 1, "HAR": 4, "GARCH(1,1)": 3}
    return [{"model": name, "seed": np.nan, "epochs": 0, "parameters": n_parameters[name],
             "test_r2": evaluation.r2(d.y_test, forecast), "seconds": 0.0} for name, forecast in forecasts.items()]


def prediction_column(model: str, seed: int) -> str:
    """Column of a network's run in the predictions CSV (the baselines' columns are their names)."""
    return f"{model}, seed {seed}"


def run(models_: dict, d, seeds: int, forecasts_out: dict, progress=print) -> list[dict]:
    rows = []
    for name, (build, epochs) in models_.items():
        for seed in range(seeds):
            t0 = time.perf_counter()
            model, _ = training.fit(build, d.X_train, d.y_train, seed=seed, **tp_rnn.fit_kwargs(epochs=epochs))
            forecast = training.predict(model, d.X_test)
            forecasts_out[prediction_column(name, seed)] = forecast
            r2 = evaluation.r2(d.y_test, forecast)
            rows.append({"model": name, "seed": seed, "epochs": epochs, "parameters": model.count_params(),
                         "test_r2": r2, "seconds": time.perf_counter() - t0})
            progress(f"{name:32s} seed {seed}: R² = {r2:.4f} ({rows[-1]['seconds']:.0f} s)")
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", choices=["residual", "tcn"])
    args = parser.parse_args(argv)
    if args.seeds < 1:
        raise ValueError("--seeds must be a positive integer")
    d = tp_rnn.load_data()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for part, models_ in [("residual", RESIDUAL_MODELS), ("tcn", TCN_MODELS)]:
        if args.only in (None, part):
            forecasts: dict[str, np.ndarray] = {}
            table = pd.DataFrame(closed_form_baselines(d, forecasts) + run(models_, d, args.seeds, forecasts))
            table["seed"] = table["seed"].astype("Int64")  # empty for the closed-form baselines
            path = RESULTS / f"{part}_volatility.csv"
            table.round(5).to_csv(path, index=False)
            print(f"wrote {path.relative_to(ROOT)}")
            # forecasts only (model outputs, in percent); the realised values are reloaded by the pages
            predictions = pd.DataFrame({name: np.asarray(f, dtype=float).ravel() for name, f in forecasts.items()},
                                       index=pd.Index(d.test_dates, name="date"))
            path = RESULTS / f"{part}_volatility_predictions.csv"
            predictions.to_csv(path, float_format="%.6g")
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

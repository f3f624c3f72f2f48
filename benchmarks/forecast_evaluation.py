"""The per-day test forecasts of the RNN TP's LSTM over five seeds, for the forecast-evaluation page.

The page ``chapters/training/forecast-evaluation.qmd`` compares HAR, GARCH(1,1) and a network on the RNN TP's
test split with the tests of ``dl4f.evaluation`` (Diebold-Mariano, block bootstrap, Model Confidence Set). HAR and
GARCH are fitted in the page (a fraction of a second); the network is trained here, once per seed, with dl4f's
recipe (``tp_rnn.train``: Adam 1e-3, batch 64, 3 epochs, best validation epoch), and its forecasts are stored:

    python benchmarks/forecast_evaluation.py [--seeds 5] [--model LSTM]

Writes ``chapters/training/results/forecast_evaluation_predictions.csv``: one row per test day (``date``), one column
per seed (``<model> s<seed>``), forecasts of ``|r|`` in percent. No market data: the realised values come from
``tp_rnn.load_data()`` in the page, aligned on ``date``. The file is rewritten after each seed. About a minute per
seed on a quiet 2-core machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax before keras is imported by the modules below)
from dl4f import evaluation, tp_rnn, training

OUT = Path(__file__).resolve().parents[1] / "chapters" / "training" / "results" / "forecast_evaluation_predictions.csv"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1 (default 5)")
    parser.add_argument("--model", default="LSTM", help="a key of dl4f.models.BUILDERS (default LSTM)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    t0 = time.perf_counter()
    data = tp_rnn.load_data()
    table = pd.DataFrame({"date": data.test_dates.strftime("%Y-%m-%d")})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in range(args.seeds):
        model, _ = tp_rnn.train(args.model, data, seed=seed)
        pred = training.predict(model, data.X_test)
        table[f"{args.model} s{seed}"] = pred
        table.to_csv(args.out, index=False, float_format="%.6g")
        print(f"seed {seed}: test R² {evaluation.r2(data.y_test, pred):.4f}, {time.perf_counter() - t0:.0f} s so far",
              flush=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The RNN TP's models over several seeds, beside the HAR and GARCH(1,1) baselines: the table of the RNN pages.

Trains every model of ``dl4f.models.BUILDERS`` with dl4f's recipe (``tp_rnn.RECIPE``: Adam 1e-3, batch 64,
3 epochs, best validation epoch) once per seed, scores it on the TP's chronological test split with R², MSE,
MAE and QLIKE (``dl4f.evaluation.METRICS``, returns in percent), and scores the baselines (deterministic) once.
One row per (model, seed) is appended to the CSV after each seed, so an interrupted run keeps what it did;
at the end the mean ± std table is printed. The per-day test forecasts go to a second CSV (``--predictions``,
default ``tp-rnn-predictions.csv`` beside the scores): one row per test day (``date``) and one column per forecast
of ``|r|`` in percent (``HAR``, ``GARCH(1,1)``, ``Linear regression``, and ``<model> s<seed>``
for each network and seed), so that the pages can test the differences (``dl4f.evaluation.compare``) without
training anything.

    python benchmarks/seeds_tp_rnn.py [--seeds 5] [--out chapters/rnn/results/tp-rnn-seeds.csv] [--models ...]

The committed ``chapters/rnn/results/tp-rnn-seeds.csv`` was made with ``--seeds 5`` (seeds 0-4), about
2.5 minutes per seed on a quiet 2-core machine. Its ``qlike`` column was then recomputed with the course's QLIKE
mapping (``evaluation.abs_to_variance``) from a rerun of seed 0 (``--seeds 1``: identical R², MSE and MAE, the runs
are deterministic on one machine), which also wrote the committed ``tp-rnn-predictions.csv``; it is empty for the
networks of seeds 1-4, whose forecasts were not stored (rerun ``--seeds 5`` to fill it). Neither file holds
market data: the predictions file holds the models' forecasts only (the realised targets come from
``tp_rnn.load_data()``, aligned on ``date``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax before keras is imported by the modules below)
from dl4f import evaluation, tp_rnn

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "chapters" / "rnn" / "results" / "tp-rnn-seeds.csv"
PREDICTIONS = "tp-rnn-predictions.csv"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds, 0 .. N-1 (default 5)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--models", nargs="+", default=None, help="a subset of the models, by name")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (quick runs only)")
    parser.add_argument("--predictions", type=Path, default=None,
                        help=f"CSV of the per-day test forecasts (default: {PREDICTIONS} beside --out)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")

    t0 = time.perf_counter()
    data = tp_rnn.load_data()
    period = f"{data.test_dates[0].date()}..{data.test_dates[-1].date()}"
    print(f"train {data.X_train.shape}, test {data.X_test.shape} ({period})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    predictions_out = args.predictions or args.out.parent / PREDICTIONS
    predictions = pd.DataFrame({"date": data.test_dates.strftime("%Y-%m-%d")})   # forecasts only, no market data
    for name, forecast in tp_rnn.baseline_predictions(data).items():
        predictions[name] = forecast
    frames = []
    for seed in range(args.seeds):
        runs = tp_rnn.run_seeds(data, args.models, seeds=[seed], epochs=args.epochs, with_baselines=seed == 0,
                                progress=print)
        frames.append(runs.scores)
        pd.concat(frames, ignore_index=True).to_csv(args.out, index=False, float_format="%.6g")
        for name, forecast in runs.first.predictions.items():
            # the closed-form regression is the same for every seed: one column
            column = name if name == "Linear regression" else f"{name} s{seed}"
            predictions[column] = forecast
        predictions.to_csv(predictions_out, index=False, float_format="%.6g")
        print(f"seed {seed} done, {time.perf_counter() - t0:.0f} s so far; wrote {args.out}, {predictions_out}", flush=True)

    scores = pd.concat(frames, ignore_index=True)
    summary = evaluation.summarize_seeds(scores)
    print()
    print(evaluation.format_summary(summary).to_string(index=False))
    print(f"\n{time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

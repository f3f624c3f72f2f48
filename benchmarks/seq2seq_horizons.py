"""Test R² by horizon, over several seeds, of the chapter "Encoder-Decoder Architectures".

The page's task and training, repeated for ``--seeds`` seeds: |r| of the S&P 500 (percent, 2000-2024), windows of
44 days, targets the next 5 days, chronological 80/20 split; a direct LSTM(16) -> Dense(5) and an LSTM(16)
encoder-decoder trained with teacher forcing and forecasting free-running, 5 epochs of Adam 1e-3 at batch 64.
The baselines (22-day mean, HAR per horizon) have no seed and are written once (seed = -1).

Writes ``chapters/building-blocks/results/seq2seq-horizons.csv`` (seed, model, horizon, r2; no market data),
which the page reads.

    python benchmarks/seq2seq_horizons.py [--seeds 5] [--epochs 5]

Measured on 2 shared CPU cores: about 30 s per seed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
# isort: on
import keras
import numpy as np
import pandas as pd

from dl4f import data, evaluation, seq2seq, windows

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "chapters" / "building-blocks" / "results" / "seq2seq-horizons.csv"
L, H, UNITS = 44, 5, 16


START, END = "2000-01-01", "2025-01-01"  # the page's fixed period (END exclusive: data to 31 Dec 2024)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    returns = 100 * data.abs_returns(data.load_prices("^GSPC", START, END))
    X, Y = seq2seq.multi_step_windows(returns, L, H)
    X_train, X_test, Y_train, Y_test = windows.chronological_split(X, Y, test_size=0.2)

    def rows(seed, name, forecast):
        return [{"seed": seed, "model": name, "horizon": k + 1, "r2": evaluation.r2(Y_test[:, k], forecast[:, k])}
                for k in range(H)]

    records = rows(-1, "22-day mean", seq2seq.naive_forecasts(X_test, H))
    records += rows(-1, "HAR (per horizon)", seq2seq.har_direct(X_train, Y_train, X_test))
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        keras.utils.set_random_seed(seed)
        direct = seq2seq.direct_model(L, H, units=UNITS)
        direct.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        direct.fit(X_train, Y_train, epochs=args.epochs, batch_size=64, verbose=0)
        records += rows(seed, "direct LSTM", direct.predict(X_test, batch_size=2048, verbose=0))

        keras.utils.set_random_seed(seed)
        s2s = seq2seq.Seq2Seq(L, H, units=UNITS)
        s2s.training_model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        s2s.training_model.fit([X_train, s2s.teacher_inputs(X_train, Y_train)], Y_train, epochs=args.epochs,
                               batch_size=64, verbose=0)
        records += rows(seed, "encoder-decoder", s2s.predict(X_test))
        truth = s2s.training_model.predict([X_test, s2s.teacher_inputs(X_test, Y_test)], batch_size=2048, verbose=0)
        records += rows(seed, "decoder fed the truth (hindsight)", np.asarray(truth))
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)

    table = pd.DataFrame(records)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.5f")
    summary = table.groupby(["model", "horizon"])["r2"].agg(["mean", "std"]).unstack("horizon")
    print(summary.round(3).to_string())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

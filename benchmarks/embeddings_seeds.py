"""The chapter "Neural Network Embeddings" over several seeds: test R², and what the asset embedding learns.

The page's task and training, repeated for ``--seeds`` seeds: 20 S&P 500 stocks (skfolio's dataset, 2000-2022),
|r| in percent, 10-day windows, asset embedding of 4 numbers and weekday embedding of 2, MLP of 32 units,
3 epochs of Adam 2e-3 at batch 512; train 2000-2016, test 2017-2022. For each seed: the test R² with and without
the asset's identity, and, for the embedding, the correlation of its first principal component with the stocks'
mean |r|, the rank correlation of the pairs' cosine similarity with their return correlation (raw, and once the
difference in mean |r| is regressed out of both), and the mean cosine similarity within and across sectors.

Writes ``chapters/building-blocks/results/embeddings-seeds.csv`` (one row per seed; no market data), which the
page reads.

    python benchmarks/embeddings_seeds.py [--seeds 5]

Measured on 2 shared CPU cores: about 20 s per seed.
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
from scipy.stats import spearmanr

from dl4f import data, embeddings, evaluation

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "chapters" / "building-blocks" / "results" / "embeddings-seeds.csv"
L = 10


def _residual(v, on):
    slope, intercept = np.polyfit(on, v, 1)
    return v - (slope * on + intercept)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    prices = data.load_stocks(start="2000-01-01")
    abs_r = 100 * prices.pct_change().iloc[1:].abs()
    sectors = pd.Series(data.STOCK_SECTORS)[prices.columns].to_numpy()
    panel = embeddings.panel_windows(abs_r, L)
    train, test = panel.subset(panel.dates < "2017-01-01"), panel.subset(panel.dates >= "2017-01-01")
    mean_vol = abs_r.loc[:"2016"].mean().to_numpy()
    corr = embeddings.upper_pairs(prices.pct_change().loc["2000":"2016"].corr().to_numpy())
    vol_gap = embeddings.upper_pairs(np.abs(mean_vol[:, None] - mean_vol[None, :]))
    same = embeddings.upper_pairs((sectors[:, None] == sectors[None, :]).astype(float)) == 1

    records = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        row = {"seed": seed}
        for encoding in ("none", "embedding"):
            keras.utils.set_random_seed(seed)
            model = embeddings.panel_model(L, n_assets=20, asset_encoding=encoding, asset_dim=4, weekday_dim=2)
            model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse")
            model.fit(train.inputs(), train.y, epochs=3, batch_size=512, verbose=0)
            pred = model.predict(test.inputs(), batch_size=8192, verbose=0)[:, 0]
            row[f"r2_{encoding}"] = evaluation.r2(test.y, pred)
        E = embeddings.embedding_table(model)
        cos = embeddings.upper_pairs(embeddings.cosine_similarity(E))
        row["abs_corr_pc1_vol"] = abs(np.corrcoef(embeddings.pca_2d(E)[:, 0], mean_vol)[0, 1])
        row["rho_cos_corr"] = spearmanr(cos, corr).statistic
        row["rho_cos_vol_closeness"] = spearmanr(cos, -vol_gap).statistic
        row["rho_cos_corr_vol_removed"] = spearmanr(_residual(cos, vol_gap), _residual(corr, vol_gap)).statistic
        row["cos_same_sector"] = cos[same].mean()
        row["cos_different_sectors"] = cos[~same].mean()
        records.append(row)
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s", {k: round(v, 3) for k, v in row.items()}, flush=True)

    table = pd.DataFrame(records)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.5f")
    print(table.describe().loc[["mean", "std", "min", "max"]].round(3).to_string())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

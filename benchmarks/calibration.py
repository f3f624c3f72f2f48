"""What the calibration scripts of the TPs share: the table of R² over seeds, written and summarised.

A threshold is ``min - 3 std`` over the seeds, rounded down to 0.01 (a model trained with the recipe passes it in
every seed observed, with a margin for the seeds not observed).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd


def write_summary(rows: list[dict], out: Path) -> pd.DataFrame:
    """Write ``rows`` (model, epochs, seed, r2, seconds) to ``out`` (CSV) and print mean, std, min, max and the
    threshold per (model, epochs); returns the summary."""
    table = pd.DataFrame(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.round(5).to_csv(out, index=False)
    summary = table.groupby(["model", "epochs"])["r2"].agg(["mean", "std", "min", "max", "count"])
    summary["threshold"] = [math.floor((m - 3 * (0 if np.isnan(s) else s)) * 100) / 100
                            for m, s in zip(summary["min"], summary["std"], strict=True)]
    print(summary.round(4).to_string())
    print(f"wrote {out}")
    return summary

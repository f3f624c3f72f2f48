"""Calibrate Question 4's trusted checks (dl4f_grading.lstm_checks): probe residuals and the training R².

For every correct layout of tests/lstm_variants.py and ``--seeds`` seeds, and for broken cells on a few seeds:
run the sandbox side (dl4f.probes) in this process, judge with the trusted side, and record the verdicts, the
training R² on the secret teacher task, a ridge regression's R² on the same task (what a student who skips the
LSTM could reach), and the wall-clock times. Writes one CSV row per run and prints a summary.

    KERAS_BACKEND= .venv/bin/python benchmarks/calibrate_lstm_checks.py --seeds 10 --out /tmp/lstm_checks.csv
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("KERAS_BACKEND", "jax")  # as dl4f does: lstm_variants imports keras

import pandas as pd  # noqa: E402
from lstm_variants import CORRECT, ConstantWeightsLSTM, broken  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402

import dl4f  # noqa: E402,F401  (KERAS_BACKEND before keras)
from dl4f import probes  # noqa: E402
from dl4f_grading import lstm_checks  # noqa: E402

BROKEN = ["no_forget_gate", "no_input_gate", "candidate_sigmoid", "input_tanh", "double_tanh", "no_output_gate",
          "h_no_tanh", "swapped", "no_bias", "no_h", "stop_gradient_h"]


def one(name: str, layer_cls, seed: int, units: int) -> dict:
    spec = lstm_checks.make_probe_spec(1000 + seed, units, 1)
    t0 = time.perf_counter()
    out = probes.probe_lstm(layer_cls, spec)
    t_probe = time.perf_counter() - t0
    failed = [c.name for c in lstm_checks.judge_probes(spec, out) if not c.passed]
    task, secret = lstm_checks.make_teacher_task(seed)
    t0 = time.perf_counter()
    trained = probes.train_on_task(layer_cls, task)
    t_train = time.perf_counter() - t0
    y_pred = trained.get("y_pred")
    r2 = lstm_checks.r2_score(secret, y_pred) if y_pred is not None else float("nan")
    n = len(task["x_train"])
    ridge = Ridge(1.0).fit(task["x_train"].reshape(n, -1), task["y_train"])
    r2_ridge = lstm_checks.r2_score(secret, ridge.predict(task["x_test"].reshape(len(task["x_test"]), -1)))
    return {"cell": name, "seed": seed, "failed_probe_checks": " ".join(failed), "r2": r2, "r2_ridge": r2_ridge,
            "passes_training": bool(lstm_checks.judge_training(secret, trained).passed),
            "probe_s": t_probe, "train_s": t_train}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--broken-seeds", type=int, default=3)
    parser.add_argument("--units", type=int, default=5)
    parser.add_argument("--out", default="/tmp/lstm_checks_calibration.csv")
    args = parser.parse_args()
    rows = []
    for seed in range(args.seeds):
        for name, cls in CORRECT.items():
            rows.append(one(name, cls, seed, args.units))
            print(rows[-1], flush=True)
    for seed in range(args.broken_seeds):
        for kind in BROKEN:
            rows.append(one(kind, broken(kind), seed, args.units))
            print(rows[-1], flush=True)
        rows.append(one("constant weights", ConstantWeightsLSTM, seed, args.units))
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(args.out, index=False)
    correct = df["cell"].isin(list(CORRECT))
    print(f"correct layouts ({correct.sum()} runs): R² mean {df[correct].r2.mean():.3f} std {df[correct].r2.std():.3f} "
          f"min {df[correct].r2.min():.3f}; probe checks failed in {(df[correct].failed_probe_checks != '').sum()} runs")
    print(df[~correct].groupby("cell").agg(r2_min=("r2", "min"), r2_max=("r2", "max"),
                                          failed=("failed_probe_checks", "first")).to_string())
    print(f"ridge R²: {df.r2_ridge.min():.3f} .. {df.r2_ridge.max():.3f}")
    print(f"time per probe run {df.probe_s.median():.2f} s (max {df.probe_s.max():.2f}), per training "
          f"{df.train_s.median():.2f} s (max {df.train_s.max():.2f})")


if __name__ == "__main__":
    main()

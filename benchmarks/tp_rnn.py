"""The RNN TP's comparison two ways, on the same data, in one run: the TP as written vs dl4f's path.

TP as written: raw absolute returns, Keras defaults (Adam 1e-3, batch 32), validation_split=0.2, the TP's
callbacks (EarlyStopping patience 10 from epoch 6, ReduceLROnPlateau, TerminateOnNaN), up to 100 epochs.
dl4f: ``dl4f.tp_rnn.train`` (percent units, RECIPE: few epochs, larger batch and step, best validation epoch).
The custom LSTM runs as dl4f.layers.GateLSTM (scan) in both: the for-loop version the TP's hint leads to
costs 17-22 minutes alone and is not what is being compared.

    python benchmarks/tp_rnn.py [--seed 0] [--models LSTM GRU ...]

Prints wall time per model, the total, the speed-up ratio and each R²; R² is unit-free, so the two are comparable.
"""

from __future__ import annotations

import argparse
import time

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
import keras
# isort: on
import pandas as pd

from dl4f import evaluation, models, tp_rnn, training


def tp_as_written(name: str, data: tp_rnn.TPData, seed: int):
    """Train ``name`` as the TP's code does, on raw units; returns (model, epochs run)."""
    model, history = training.fit(
        models.BUILDERS[name], data.X_train, data.y_train, seed=seed, epochs=100, batch_size=32,
        learning_rate=1e-3, validation_split=0.2, callbacks=training.tp_callbacks(),
    )
    return model, len(history.get("loss", [])) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=list(models.BUILDERS))
    args = parser.parse_args()
    raw = tp_rnn.load_data(percent=False)
    pct = tp_rnn.load_data(percent=True)
    rows = []
    for name in args.models:
        t0 = time.perf_counter()
        m_tp, ep_tp = tp_as_written(name, raw, args.seed)
        t_tp = time.perf_counter() - t0
        r2_tp = evaluation.r2(raw.y_test, training.predict(m_tp, raw.X_test))
        keras.backend.clear_session()
        t0 = time.perf_counter()
        m_f, hist = tp_rnn.train(name, pct, seed=args.seed)
        t_f = time.perf_counter() - t0
        r2_f = evaluation.r2(pct.y_test, training.predict(m_f, pct.X_test))
        keras.backend.clear_session()
        rows.append({"model": name, "tp_s": t_tp, "tp_epochs": ep_tp, "dl4f_s": t_f,
                     "dl4f_epochs": len(hist.get("loss", [])) or "-", "ratio": t_tp / t_f,
                     "tp_r2": r2_tp, "dl4f_r2": r2_f, "r2_diff": r2_f - r2_tp})
        print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1, float_format="%.4f"), flush=True)
    table = pd.DataFrame(rows)
    total_tp, total_f = table["tp_s"].sum(), table["dl4f_s"].sum()
    print("\n" + table.to_string(index=False, float_format="%.4f"))
    print(f"\ntotal: TP as written {total_tp:.0f} s, dl4f {total_f:.0f} s, speed-up {total_tp / total_f:.2f}x; "
          f"worst R² difference (dl4f - TP) {table['r2_diff'].min():+.4f}")


if __name__ == "__main__":
    main()

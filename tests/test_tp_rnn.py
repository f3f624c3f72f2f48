"""dl4f.tp_rnn: the TP's data in the TP's shapes and dates, and the training settings it uses."""

import numpy as np
import pandas as pd
import pytest

from dl4f import tp_rnn


def test_tp_arrays(tp_data):
    d = tp_data
    assert d.X_train.shape == (4668, 200) and d.X_test.shape == (1168, 200)
    assert d.y_train.shape == (4668,) and d.y_test.shape == (1168,)
    assert len(d.test_dates) == 1168 and d.test_dates[-1] == pd.Timestamp("2023-12-29")
    # target i of the test split is the absolute return (in percent) on test_dates[i]
    np.testing.assert_allclose(d.y_test, d.returns.loc[d.test_dates].to_numpy() * 100)
    # each window ends the day before its target
    np.testing.assert_allclose(d.X_test[:, -1], d.returns.shift(1).loc[d.test_dates].to_numpy() * 100)


def test_percent_and_raw_units_hold_the_same_data(tp_data):
    raw = tp_rnn.load_data(percent=False)
    np.testing.assert_allclose(tp_data.X_train, raw.X_train * 100)
    np.testing.assert_allclose(tp_data.y_test, raw.y_test * 100)


def test_fit_kwargs_reads_the_epoch_override(monkeypatch):
    monkeypatch.delenv("DL4F_TP_EPOCHS", raising=False)
    assert tp_rnn.fit_kwargs()["epochs"] == tp_rnn.RECIPE["epochs"]
    monkeypatch.setenv("DL4F_TP_EPOCHS", "1")
    kwargs = tp_rnn.fit_kwargs()
    assert kwargs["epochs"] == 1 and kwargs["batch_size"] == tp_rnn.RECIPE["batch_size"]
    assert tp_rnn.fit_kwargs(epochs=3)["epochs"] == 3
    monkeypatch.setenv("DL4F_TP_EPOCHS", "many")
    with pytest.raises(ValueError, match="DL4F_TP_EPOCHS"):
        tp_rnn.fit_kwargs()


def test_train_an_lstm_briefly_beats_the_mean(tp_data):
    """One epoch on the real data already forecasts volatility better than its average (R² > 0.1)."""
    from dl4f import evaluation, training

    model, history = tp_rnn.train("GRU", tp_data, seed=0, epochs=1)
    assert len(history["loss"]) == 1
    assert evaluation.r2(tp_data.y_test, training.predict(model, tp_data.X_test)) > 0.1

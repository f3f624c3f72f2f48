"""The models of the RNN practical, one builder each.

Every Keras builder returns an uncompiled ``keras.Sequential`` that maps a window of shape
``(window, 1)`` (``(window,)`` for the MLP) to one number, the next day's absolute return.
``linear_regression`` returns scikit-learn's ordinary least squares, fitted in closed form.
"""

from __future__ import annotations

import keras
from sklearn.linear_model import LinearRegression

from dl4f.layers import GateLSTM

UNITS = 100


def _check(window: int, units: int) -> None:
    for name, value in (("window", window), ("units", units)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def linear_regression() -> LinearRegression:
    """Ordinary least squares on the flattened window: ``y = w . x + b``."""
    return LinearRegression()


def mlp(window: int = 200, units: int = UNITS, depth: int = 3) -> keras.Sequential:
    """``depth`` Dense(units, relu) layers, then a linear Dense(1). Input: the window as a flat vector."""
    _check(window, units)
    layers = [keras.Input((window,))] + [keras.layers.Dense(units, activation="relu") for _ in range(depth)]
    return keras.Sequential(layers + [keras.layers.Dense(1)], name="mlp")


def _recurrent(layer_cls, name: str, window: int, units: int, n_layers: int) -> keras.Sequential:
    _check(window, units)
    # Every recurrent layer but the last hands its whole sequence of hidden states to the next one;
    # the last one keeps only its final hidden state h_T, which the linear Dense maps to a forecast.
    recurrent = [layer_cls(units, return_sequences=k < n_layers - 1) for k in range(n_layers)]
    return keras.Sequential([keras.Input((window, 1)), *recurrent, keras.layers.Dense(1)], name=name)


def lstm(window: int = 200, units: int = UNITS) -> keras.Sequential:
    """LSTM(units) keeping its last hidden state, then a linear Dense(1)."""
    return _recurrent(keras.layers.LSTM, "lstm", window, units, 1)


def gru(window: int = 200, units: int = UNITS) -> keras.Sequential:
    """GRU(units) keeping its last hidden state, then a linear Dense(1)."""
    return _recurrent(keras.layers.GRU, "gru", window, units, 1)


def lstm_2layer(window: int = 200, units: int = UNITS) -> keras.Sequential:
    """Two stacked LSTM(units): the first returns its sequence, the second its last state; then Dense(1)."""
    return _recurrent(keras.layers.LSTM, "lstm_2layer", window, units, 2)


def gru_2layer(window: int = 200, units: int = UNITS) -> keras.Sequential:
    """Two stacked GRU(units): the first returns its sequence, the second its last state; then Dense(1)."""
    return _recurrent(keras.layers.GRU, "gru_2layer", window, units, 2)


def custom_lstm(window: int = 200, units: int = UNITS) -> keras.Sequential:
    """dl4f's LSTM written from its gate equations (``dl4f.layers.GateLSTM``), then a linear Dense(1)."""
    return _recurrent(GateLSTM, "custom_lstm", window, units, 1)


# The TP's comparison, in the order the TP introduces the models.
BUILDERS = {
    "Linear regression": linear_regression,
    "MLP": mlp,
    "LSTM": lstm,
    "GRU": gru,
    "LSTM (2 layers)": lstm_2layer,
    "GRU (2 layers)": gru_2layer,
    "Custom LSTM": custom_lstm,
}

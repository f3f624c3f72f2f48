"""Multi-step forecasts: the chapter "Encoder-Decoder Architectures".

From a series ``x`` (daily absolute returns), ``multi_step_windows`` builds, for every date ``t``, the past
window ``X_t = (x_{t-L+1}, ..., x_t)`` and the next ``H`` values ``Y_t = (x_{t+1}, ..., x_{t+H})``.

Two ways to forecast ``Y_t`` with a network:

* **direct** (``direct_model``): an LSTM encoder reads ``X_t`` into a vector, a Dense layer outputs the
  ``H`` forecasts at once. Each horizon has its own output weights; nothing is fed back.
* **encoder-decoder** (``Seq2Seq``): an LSTM encoder reads ``X_t`` and hands its state ``(h, c)`` to an
  LSTM decoder that emits one forecast per step, reading the previous value as its input. In training, that
  input is the true previous value (**teacher forcing**: the decoder sees ``x_t, x_{t+1}, ..., x_{t+H-1}``);
  at prediction time the truth is unknown, so the decoder reads its own previous forecast (free running).

``naive_forecasts`` and ``har_direct`` are the baselines: the mean of the last 22 days for every horizon,
and a HAR regression (Corsi, 2009) on the 1-, 5- and 22-day means fitted by least squares for each horizon.
"""

from __future__ import annotations

import keras
import numpy as np

from dl4f.windows import _as_1d_float

HAR_LAGS = (1, 5, 22)


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def multi_step_windows(series, length: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``X`` (n, length) and targets ``Y`` (n, horizon): ``Y[i, h-1]`` is the value h steps after ``X[i]``.

    ``n = len(series) - length - horizon + 1``; sample ``i`` ends at position ``i + length - 1`` of the series.
    """
    length, horizon = _positive("length", length), _positive("horizon", horizon)
    values = _as_1d_float(series)
    n = len(values) - length - horizon + 1
    if n < 1:
        raise ValueError(f"{length} past and {horizon} future values need a series of at least "
                         f"{length + horizon} values, got {len(values)}")
    windows = np.lib.stride_tricks.sliding_window_view(values, length + horizon)[:n]
    return windows[:, :length].copy(), windows[:, length:].copy()


def direct_model(length: int, horizon: int, units: int = 32, name: str = "direct"):
    """LSTM encoder -> Dense(horizon): all horizons at once. Input (batch, length), output (batch, horizon)."""
    length, horizon, units = _positive("length", length), _positive("horizon", horizon), _positive("units", units)
    inputs = keras.Input((length,), name="window")
    state = keras.layers.LSTM(units, name="encoder")(keras.layers.Reshape((length, 1))(inputs))
    return keras.Model(inputs, keras.layers.Dense(horizon, name="horizons")(state), name=name)


class Seq2Seq:
    """LSTM encoder-decoder; ``training_model`` is fitted with teacher forcing, ``predict`` runs free.

    ``training_model``: inputs ``[X (batch, length), decoder_inputs (batch, horizon)]`` -> (batch, horizon), where
    ``decoder_inputs = teacher_inputs(X, Y)`` are the true previous values. ``predict(X)`` feeds each forecast back
    as the next decoder input. Both share the same layers, hence the same weights.
    """

    def __init__(self, length: int, horizon: int, units: int = 32):
        self.length, self.horizon = _positive("length", length), _positive("horizon", horizon)
        units = _positive("units", units)
        self.encoder_lstm = keras.layers.LSTM(units, return_state=True, name="encoder")
        self.decoder_lstm = keras.layers.LSTM(units, return_sequences=True, return_state=True, name="decoder")
        self.readout = keras.layers.Dense(1, name="readout")

        window = keras.Input((self.length,), name="window")
        _, h, c = self.encoder_lstm(keras.layers.Reshape((self.length, 1))(window))
        previous = keras.Input((self.horizon,), name="decoder_inputs")
        sequence, _, _ = self.decoder_lstm(keras.layers.Reshape((self.horizon, 1))(previous), initial_state=[h, c])
        outputs = keras.layers.Reshape((self.horizon,))(self.readout(sequence))
        self.training_model = keras.Model([window, previous], outputs, name="seq2seq_teacher_forcing")
        self.encoder = keras.Model(window, [h, c], name="encoder")

        step_in = keras.Input((1, 1), name="previous_value")
        h_in, c_in = keras.Input((units,), name="h"), keras.Input((units,), name="c")
        step_seq, h_out, c_out = self.decoder_lstm(step_in, initial_state=[h_in, c_in])
        self.decoder_step = keras.Model([step_in, h_in, c_in], [self.readout(step_seq), h_out, c_out],
                                        name="decoder_step")

    @staticmethod
    def teacher_inputs(X, Y) -> np.ndarray:
        """Decoder inputs under teacher forcing: ``(x_t, y_1, ..., y_{H-1})`` = the true value before each target."""
        X, Y = np.asarray(X), np.asarray(Y)
        return np.concatenate([X[:, -1:], Y[:, :-1]], axis=1)

    def predict(self, X) -> np.ndarray:
        """Free-running forecasts (n, horizon): each step reads the previous step's forecast."""
        X = np.asarray(X, dtype="float32")
        h, c = (np.asarray(s) for s in self.encoder(X))
        previous = X[:, -1:, None]  # the last observed value starts the decoding, as in training
        outputs = []
        for _ in range(self.horizon):
            y, h, c = (np.asarray(s) for s in self.decoder_step([previous, h, c]))
            outputs.append(y[:, 0, 0])
            previous = y
        return np.stack(outputs, axis=1)


def _rolling_means(X: np.ndarray, lags=HAR_LAGS) -> np.ndarray:
    if X.shape[1] < max(lags):
        raise ValueError(f"windows of {X.shape[1]} days are too short for the lags {lags}")
    return np.column_stack([X[:, -lag:].mean(axis=1) for lag in lags])


def naive_forecasts(X, horizon: int, days: int = 22) -> np.ndarray:
    """The mean of the last ``days`` values of each window, for every one of the ``horizon`` steps: (n, horizon)."""
    X = np.asarray(X, dtype=float)
    return np.repeat(X[:, -_positive("days", days):].mean(axis=1, keepdims=True), _positive("horizon", horizon), 1)


def har_direct(X_train, Y_train, X_test, lags=HAR_LAGS) -> np.ndarray:
    """HAR per horizon: ``y_{t+h} = b_0 + b_d m^(1)_t + b_w m^(5)_t + b_m m^(22)_t``, OLS fitted on the training set."""
    A_train = np.column_stack([np.ones(len(X_train)), _rolling_means(np.asarray(X_train, float), lags)])
    A_test = np.column_stack([np.ones(len(X_test)), _rolling_means(np.asarray(X_test, float), lags)])
    coef, *_ = np.linalg.lstsq(A_train, np.asarray(Y_train, float), rcond=None)  # (1 + len(lags), horizon)
    return A_test @ coef

"""Fitting: the TP's callbacks, and one ``fit`` for Keras models and scikit-learn estimators alike."""

from __future__ import annotations

import os
from collections.abc import Callable

import keras
import numpy as np

# Per-epoch time of LSTM(100) on 200-day windows hardly depends on the batch size on a 2-core CPU
# (measured: 4.9 s at 32, 4.4 s at 256, 3.9 s at 1024; benchmarks/lstm_speed.py): the CPU is busy with
# arithmetic, so a big batch buys little time and costs updates (1024 gives 4 per epoch on the TP's 3,734
# training windows). 64 keeps 59 updates per epoch, and its R² varies least across seeds
# (3 seeds, 3 epochs, Adam 1e-3: LSTM 0.294 +- 0.003, GRU 0.269 +- 0.004; at 256 and 3e-3: GRU 0.257-0.261;
# at 128 and 2e-3: GRU 0.254-0.304).
DEFAULT_BATCH_SIZE = 64
DEFAULT_LEARNING_RATE = 1e-3


def tp_callbacks() -> list[keras.callbacks.Callback]:
    """The TP's three callbacks, with its exact parameters (new objects on every call: they hold state)."""
    return [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", min_delta=1e-5, patience=10, restore_best_weights=True, start_from_epoch=6
        ),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.25, patience=5, min_delta=1e-5, min_lr=2.5e-5),
        keras.callbacks.TerminateOnNaN(),
    ]


def recipe_epochs(default: int, epochs: int | None = None) -> int:
    """The number of epochs of a TP's recipe: ``epochs`` if given, else ``DL4F_TP_EPOCHS`` (the instructor's quick
    runs) if set, else ``default``."""
    if epochs is None:
        env = os.environ.get("DL4F_TP_EPOCHS", "").strip()
        if env:
            if not env.isdigit() or int(env) < 1:
                raise ValueError(f"DL4F_TP_EPOCHS must be a positive integer, got {env!r}")
            epochs = int(env)
    return default if epochs is None else epochs


def recipe_fit_kwargs(recipe: dict, epochs: int | None = None) -> dict:
    """Keyword arguments of ``model.fit`` for a TP's ``recipe`` (epochs, batch_size, validation_split).

    The number of epochs is ``recipe_epochs(recipe["epochs"], epochs)``. The epoch with the lowest validation loss
    is kept (``EarlyStopping`` with ``restore_best_weights``, patience = every epoch) and a NaN loss stops training.
    """
    epochs = recipe_epochs(recipe["epochs"], epochs)
    return {"epochs": epochs, "batch_size": recipe["batch_size"], "validation_split": recipe["validation_split"],
            "shuffle": True, "verbose": 0,
            "callbacks": [keras.callbacks.EarlyStopping(monitor="val_loss", patience=epochs, restore_best_weights=True),
                          keras.callbacks.TerminateOnNaN()]}


def is_keras(model) -> bool:
    return isinstance(model, keras.Model)


def as_model_input(model, X) -> np.ndarray:
    """``X`` shaped as ``model`` expects it: (n, window, 1) for a recurrent model, (n, window) for the others."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim not in (2, 3):
        raise ValueError(f"X must be (samples, window) or (samples, window, 1), got shape {X.shape}")
    if np.isnan(X).any():
        raise ValueError("X holds NaN values")
    rank = len(model.inputs[0].shape) if is_keras(model) else 2
    if rank == 3 and X.ndim == 2:
        return X[..., None]
    if rank == 2 and X.ndim == 3:
        if X.shape[-1] != 1:
            raise ValueError(f"this model takes one feature per day, X has {X.shape[-1]}")
        return X[..., 0]
    return X


def fit(
    model,
    X,
    y,
    *,
    seed: int | None = 0,
    epochs: int = 100,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    validation_split: float = 0.2,
    callbacks: list | None = None,
    verbose: int = 0,
):
    """Fit ``model`` on ``(X, y)`` and return ``(model, history)``; ``history`` is a dict of per-epoch lists.

    ``model`` is a Keras model, a scikit-learn estimator, or a function of no argument that builds one
    (e.g. ``dl4f.models.lstm``). Pass a builder for a reproducible run: the seed
    (``keras.utils.set_random_seed``) is set *before* the weights are drawn. An uncompiled Keras model is
    compiled with Adam and the MSE loss. ``callbacks=None`` means the TP's callbacks; ``[]`` means none.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    if callable(model) and not is_keras(model) and not hasattr(model, "fit"):
        model = model()
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    X = as_model_input(model, X)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    if np.isnan(y).any():
        raise ValueError("y holds NaN values")
    if not is_keras(model):  # scikit-learn: closed form, no epochs
        model.fit(X, y)
        return model, {}
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not model.compiled:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    history = model.fit(
        X,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=validation_split,
        callbacks=tp_callbacks() if callbacks is None else callbacks,
        verbose=verbose,
    )
    return model, history.history


def predict(model, X, batch_size: int = 2048) -> np.ndarray:
    """Predictions of ``model`` (Keras or scikit-learn) as a flat array of shape (n,)."""
    X = as_model_input(model, X)
    if is_keras(model):
        return np.asarray(model.predict(X, batch_size=batch_size, verbose=0)).reshape(-1)
    return np.asarray(model.predict(X)).reshape(-1)


def make_builder(build: Callable[..., object], **kwargs) -> Callable[[], object]:
    """A no-argument builder for ``fit`` from a builder and its arguments: ``make_builder(models.lstm, units=8)``."""
    return lambda: build(**kwargs)

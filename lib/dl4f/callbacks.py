"""Callbacks of the course, and a way to replay any callback on a recorded loss curve.

- ``RelativeEarlyStopping``: early stopping whose improvement threshold is a *fraction* of the best value,
  so it means the same thing whatever the units of the loss (the TP's ``min_delta=1e-5`` does not).
- ``TrainingMonitor``: records the learning rate and the gradient norm (on a fixed probe batch) each epoch.
- ``replay``: drive Keras callbacks with a scripted ``val_loss`` curve, without training, to see when
  they stop, which epoch they restore and how they move the learning rate.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pandas as pd

from dl4f.training_loop import mse


class RelativeEarlyStopping(keras.callbacks.Callback):
    """Stop when ``monitor`` has not improved by a fraction ``rel_delta`` of its best value for ``patience`` epochs.

    An epoch improves when ``value < best * (1 - rel_delta)`` (a loss, positive, to minimise). With
    ``restore_best_weights`` the model ends with the weights of its best epoch. ``best_epoch`` and
    ``stopped_epoch`` are 0-based, as in Keras (``stopped_epoch`` stays ``None`` if training ran to the end).
    """

    def __init__(self, monitor: str = "val_loss", rel_delta: float = 1e-3, patience: int = 5,
                 restore_best_weights: bool = True):
        super().__init__()
        if not 0 <= rel_delta < 1:
            raise ValueError(f"rel_delta is a fraction of the best value, in [0, 1), e.g. 1e-3; got {rel_delta!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a positive integer (epochs), got {patience!r}")
        self.monitor, self.rel_delta, self.patience = monitor, rel_delta, patience
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.best_weights = np.inf, None, None
        self.wait, self.stopped_epoch = 0, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(f"RelativeEarlyStopping monitors {self.monitor!r}, the logs hold {sorted(logs or {})}: "
                             "pass validation data to fit, or monitor 'loss'")
        if value < self.best * (1 - self.rel_delta):  # a real improvement: remember it
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class TrainingMonitor(keras.callbacks.Callback):
    """Record, at the end of each epoch, the optimizer's learning rate and the gradient norm on a probe batch.

    The gradient of the MSE with respect to all trainable weights is computed with JAX over
    ``model.stateless_call`` on ``probe = (X, y)`` (a fixed batch, so epochs are comparable). The values go
    to ``self.history`` (``{"learning_rate": [...], "grad_norm": [...]}``) and into the epoch's logs.
    """

    def __init__(self, probe):
        super().__init__()
        X, y = probe
        self.X = np.asarray(X, dtype=np.float32)
        self.y = np.asarray(y, dtype=np.float32).reshape(-1)
        if len(self.X) != len(self.y) or len(self.y) == 0:
            raise ValueError(f"probe must be (X, y) with as many rows, got {len(self.X)} and {len(self.y)}")
        self._grad = None

    def on_train_begin(self, logs=None):
        self.history = {"learning_rate": [], "grad_norm": []}
        model = self.model

        def loss(trainable, non_trainable):
            y_pred, _ = model.stateless_call(trainable, non_trainable, self.X, training=False)
            return mse(self.y, y_pred)

        self._grad = jax.jit(jax.grad(loss))

    def gradient_norm(self) -> float:
        grads = self._grad([v.value for v in self.model.trainable_variables],
                           [v.value for v in self.model.non_trainable_variables])
        return float(jnp.sqrt(sum(jnp.sum(g**2) for g in grads)))

    def on_epoch_end(self, epoch, logs=None):
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        norm = self.gradient_norm()
        self.history["learning_rate"].append(lr)
        self.history["grad_norm"].append(norm)
        if logs is not None:
            logs["grad_norm"] = norm


def _dummy_model(learning_rate: float) -> keras.Model:
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def replay(callbacks, values, *, monitor: str = "val_loss", learning_rate: float = 1e-3) -> pd.DataFrame:
    """Run ``callbacks`` over a recorded curve ``values`` (one per epoch), as ``model.fit`` would, without training.

    A tiny stand-in model (with an SGD optimizer at ``learning_rate``) receives the callbacks' actions.
    Returns one row per epoch that ran: ``epoch`` (1-based), the monitored value, the learning rate the
    next epoch would use, and ``stop`` (True on the epoch where a callback stopped training). The callbacks
    keep their state (``best_epoch``, ``stopped_epoch``...) for inspection.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("give at least one value per epoch to replay")
    model = _dummy_model(learning_rate)
    callbacks = list(callbacks)
    for cb in callbacks:
        cb.set_model(model)
    model.stop_training = False
    for cb in callbacks:
        cb.on_train_begin({})
    rows = []
    for epoch, value in enumerate(values):
        logs = {monitor: float(value)}
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        rows.append({"epoch": epoch + 1, monitor: float(value), "learning_rate": lr, "stop": bool(model.stop_training)})
        if model.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end({})
    return pd.DataFrame(rows)

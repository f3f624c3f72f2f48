"""What ``model.fit`` does, in a few lines of JAX over Keras's stateless API.

One training step is: forward pass, loss, gradient, update. Keras 3 exposes each piece as a pure
function of explicit state, so JAX can differentiate and compile it:

- ``model.stateless_call(trainable, non_trainable, x)`` -> ``(y_pred, non_trainable)``: the forward pass
  with the weights given as arguments (nothing read from or written to the model);
- ``jax.value_and_grad(loss_fn)`` -> the loss and its gradient with respect to the trainable weights;
- ``optimizer.stateless_apply(opt_vars, grads, trainable)`` -> ``(trainable, opt_vars)``: one update;
- ``jax.jit`` compiles the whole step once; each batch then runs the compiled program.

``fit`` loops over epochs and batches in order (no shuffling), as ``model.fit(..., shuffle=False)`` does,
and writes the final weights back into the model: with the same initial weights, optimizer and batches it
gives the same weights as ``model.fit``, to float32 rounding (``tests/test_training_loop.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np


def mse(y_true, y_pred):
    """Mean squared error over the batch, for a one-output model: ``mean((y_pred - y)^2)``."""
    return jnp.mean((jnp.reshape(y_pred, (-1,)) - jnp.reshape(y_true, (-1,))) ** 2)


def make_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer, loss_fn=mse):
    """A compiled ``step(state, x, y) -> (loss, state)``, with ``state = (trainable, non_trainable, opt_vars)``."""

    def loss_and_state(trainable, non_trainable, x, y):
        y_pred, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)  # forward
        return loss_fn(y, y_pred), non_trainable  # loss (and the updated non-trainable state, e.g. BatchNorm)

    grad_fn = jax.value_and_grad(loss_and_state, has_aux=True)  # d loss / d trainable weights

    @jax.jit
    def step(state, x, y):
        trainable, non_trainable, opt_vars = state
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, x, y)  # gradient
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)  # update
        return loss, (trainable, non_trainable, opt_vars)

    return step


def initial_state(model: keras.Model, optimizer: keras.optimizers.Optimizer):
    """The model's and the optimizer's variables as JAX arrays (building the optimizer if needed)."""
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
    )


def write_back(model: keras.Model, optimizer: keras.optimizers.Optimizer, state) -> None:
    """Assign the state's arrays to the model's and the optimizer's variables."""
    trainable, non_trainable, opt_vars = state
    for variables, values in (
        (model.trainable_variables, trainable),
        (model.non_trainable_variables, non_trainable),
        (optimizer.variables, opt_vars),
    ):
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)


def fit(
    model: keras.Model,
    X,
    y,
    *,
    optimizer: keras.optimizers.Optimizer | None = None,
    epochs: int = 1,
    batch_size: int = 32,
    loss_fn=mse,
) -> dict:
    """Train ``model`` on ``(X, y)`` in order (no shuffling); return ``{"loss": [loss per epoch]}``.

    ``optimizer`` defaults to ``keras.optimizers.Adam(1e-3)``. The last batch may be smaller, as in Keras.
    The model's weights (and the optimizer's state) are updated in place at the end.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a built Keras model, got {type(model).__name__}")
    if not model.built:
        raise ValueError("the model has no weights yet: give it a keras.Input or call it once on a batch")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    optimizer = keras.optimizers.Adam(1e-3) if optimizer is None else optimizer
    step = make_train_step(model, optimizer, loss_fn)
    state = initial_state(model, optimizer)
    history = {"loss": []}
    for _ in range(epochs):
        losses, sizes = [], []
        for start in range(0, len(X), batch_size):
            loss, state = step(state, X[start : start + batch_size], y[start : start + batch_size])
            losses.append(float(loss))
            sizes.append(min(batch_size, len(X) - start))
        history["loss"].append(float(np.average(losses, weights=sizes)))  # Keras weights batches by size
    write_back(model, optimizer, state)
    return history

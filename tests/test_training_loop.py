"""dl4f.training_loop: the few-line JAX loop over Keras's stateless API reproduces model.fit."""

import keras
import numpy as np
import pytest

from dl4f import models, training_loop


def _toy(n=200, window=8, seed=0):
    X = np.random.default_rng(seed).random((n, window)).astype("float32")
    return X, X[:, -3:].mean(axis=1)


def _twins(window=8):
    """Two MLPs with the same initial weights."""
    keras.utils.set_random_seed(0)
    a = models.mlp(window=window, units=8, depth=2)
    b = models.mlp(window=window, units=8, depth=2)
    b.set_weights(a.get_weights())
    return a, b


@pytest.mark.parametrize("make_optimizer", [lambda: keras.optimizers.Adam(1e-2), lambda: keras.optimizers.SGD(0.05, 0.9)])
def test_jax_loop_gives_the_weights_of_model_fit(make_optimizer):
    X, y = _toy()  # 200 samples, batch 32: the last batch has 8, as in Keras
    a, b = _twins()
    start = [w.copy() for w in a.get_weights()]
    a.compile(optimizer=make_optimizer(), loss="mse")
    keras_history = a.fit(X, y, epochs=2, batch_size=32, shuffle=False, verbose=0).history
    history = training_loop.fit(b, X, y, optimizer=make_optimizer(), epochs=2, batch_size=32)
    gap = max(np.abs(u - v).max() for u, v in zip(a.get_weights(), b.get_weights(), strict=True))
    moved = max(np.abs(u - v).max() for u, v in zip(a.get_weights(), start, strict=True))
    assert moved > 1e-2, "training moved the weights"
    assert gap < 1e-6, f"the JAX loop and model.fit differ by {gap:.2e}"
    np.testing.assert_allclose(history["loss"], keras_history["loss"], rtol=1e-5)
    assert history["loss"][1] < history["loss"][0]


def test_one_step_is_plain_gradient_descent_with_sgd():
    X, y = _toy(n=16)
    _, model = _twins()
    optimizer = keras.optimizers.SGD(0.1)
    step = training_loop.make_train_step(model, optimizer)
    state = training_loop.initial_state(model, optimizer)
    import jax

    def loss(trainable):
        return training_loop.mse(y, model.stateless_call(trainable, state[1], X)[0])

    grads = jax.grad(loss)(state[0])
    _, (trainable, _, _) = step(state, X, y)
    for before, g, after in zip(state[0], grads, trainable, strict=True):
        np.testing.assert_allclose(np.asarray(after), np.asarray(before) - 0.1 * np.asarray(g), atol=1e-6)


def test_fit_checks_its_inputs():
    X, y = _toy(n=20)
    _, model = _twins()
    with pytest.raises(ValueError, match="samples"):
        training_loop.fit(model, X, y[:10])
    with pytest.raises(ValueError, match="batch_size"):
        training_loop.fit(model, X, y, batch_size=0)
    with pytest.raises(ValueError, match="Keras model"):
        training_loop.fit("mlp", X, y)

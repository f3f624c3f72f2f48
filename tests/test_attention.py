"""dl4f.attention: attention from its equations equals Keras' layer, and the causal mask hides the future."""

import keras
import numpy as np
import pytest

from dl4f import attention


def _random_weights(layer, rng):
    for w in layer.weights:  # not the zero biases of a fresh layer: every term of the equations is exercised
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))


def test_scaled_dot_product_attention_matches_numpy():
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(4, 3)), rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    out, weights = attention.scaled_dot_product_attention(q.astype("float32"), k.astype("float32"), v.astype("float32"))
    scores = q @ k.T / np.sqrt(3)
    expected_w = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(weights), expected_w, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out), expected_w @ v, atol=1e-5)


def test_causal_mask():
    np.testing.assert_array_equal(attention.causal_mask(3), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(attention.causal_mask(2, 4), [[1, 1, 1, 0], [1, 1, 1, 1]])
    with pytest.raises(ValueError, match="key_length"):
        attention.causal_mask(3, 2)
    with pytest.raises(ValueError, match="positive"):
        attention.causal_mask(0)


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_equals_keras_given_same_weights(causal):
    rng = np.random.default_rng(1)
    query = rng.normal(size=(3, 7, 8)).astype("float32")
    value = rng.normal(size=(3, 7, 5)).astype("float32")
    reference = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4)
    reference(query, value)
    _random_weights(reference, rng)
    ours = attention.MultiHeadAttention(num_heads=3, key_dim=4)
    ours(query, value)
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    ours.set_weights(reference.get_weights())
    out, w = ours(query, value, use_causal_mask=causal, return_attention_scores=True)
    ref_out, ref_w = reference(query, value, use_causal_mask=causal, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref_out), atol=1e-5)
    np.testing.assert_allclose(np.asarray(w), np.asarray(ref_w), atol=1e-5)
    assert w.shape == (3, 3, 7, 7)
    np.testing.assert_allclose(np.asarray(w).sum(axis=-1), 1.0, atol=1e-5)


def test_explicit_attention_mask_equals_keras():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 6)).astype("float32")
    mask = rng.random((2, 5, 5)) > 0.4
    mask[:, :, 0] = True  # every query sees at least one key
    reference = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    reference(x, x)
    _random_weights(reference, rng)
    ours = attention.MultiHeadAttention(num_heads=2, key_dim=3)
    ours(x, x)
    ours.set_weights(reference.get_weights())
    np.testing.assert_allclose(np.asarray(ours(x, x, attention_mask=mask)),
                               np.asarray(reference(x, x, attention_mask=mask)), atol=1e-5)


def test_causal_self_attention_ignores_the_future():
    rng = np.random.default_rng(3)
    layer = attention.MultiHeadAttention(num_heads=2, key_dim=4)
    x = rng.normal(size=(2, 10, 8)).astype("float32")
    changed = x.copy()
    changed[:, 6:] = rng.normal(size=(2, 4, 8))  # a different future from day 6 on
    before = np.asarray(layer(x, x, use_causal_mask=True))
    after = np.asarray(layer(changed, changed, use_causal_mask=True))
    np.testing.assert_allclose(after[:, :6], before[:, :6], atol=1e-6)  # days 0..5 do not see days 6..9
    assert np.abs(after[:, 6:] - before[:, 6:]).min() > 0
    # without the mask, the past does see the future
    assert np.abs(np.asarray(layer(changed, changed))[:, :6] - np.asarray(layer(x, x))[:, :6]).max() > 1e-3


def test_forecaster_is_causal_and_saves(tmp_path):
    rng = np.random.default_rng(4)
    model = attention.attention_forecaster(12, d_model=8, num_heads=2)
    X = rng.normal(size=(3, 12)).astype("float32")
    weights = attention.attention_weights(model, X)
    assert weights.shape == (3, 2, 12, 12)
    assert np.all(np.triu(weights, k=1) < 1e-6)  # no weight on later days
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(loaded(X)), np.asarray(model(X)), atol=1e-6)
    config = model.get_layer("attention").get_config()
    assert (config["num_heads"], config["key_dim"]) == (2, 4)


def test_input_checks():
    with pytest.raises(ValueError, match="num_heads"):
        attention.MultiHeadAttention(num_heads=0, key_dim=4)
    with pytest.raises(ValueError, match="d_k"):
        attention.scaled_dot_product_attention(np.ones((2, 3)), np.ones((2, 4)), np.ones((2, 4)))

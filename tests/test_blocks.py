"""dl4f.blocks: residual block, GLU and GRN follow their equations, have the right shapes, save and load."""

import keras
import numpy as np
import pytest

from dl4f import blocks


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def affine(v, dense):
    return v @ np.asarray(dense.kernel) + np.asarray(dense.bias)


def normalise(v, norm):
    mean, var = v.mean(-1, keepdims=True), v.var(-1, keepdims=True)
    return np.asarray(norm.gamma) * (v - mean) / np.sqrt(var + norm.epsilon) + np.asarray(norm.beta)


def randomise(layer, seed):
    """Non-default weights everywhere (biases, LayerNorm gamma/beta included), so every term is tested."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.get_weights()])


X = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")


@pytest.mark.parametrize(
    "layer, shape_in, shape_out",
    [
        (blocks.ResidualBlock(7), (6, 5), (6, 5)),
        (blocks.ResidualBlock(3, layer_norm=True), (2, 9, 4), (2, 9, 4)),
        (blocks.GLU(3), (6, 5), (6, 3)),
        (blocks.GLU(2), (2, 9, 4), (2, 9, 2)),
        (blocks.GRN(8), (6, 5), (6, 8)),
        (blocks.GRN(4, hidden_units=16), (2, 9, 4), (2, 9, 4)),
    ],
)
def test_output_shapes(layer, shape_in, shape_out):
    x = np.ones(shape_in, dtype="float32")
    assert tuple(layer(x).shape) == shape_out
    assert tuple(layer.compute_output_shape(shape_in)) == shape_out


@pytest.mark.parametrize("layer_norm", [False, True])
def test_residual_block_is_input_plus_two_layer_branch(layer_norm):
    block = blocks.ResidualBlock(7, activation="tanh", layer_norm=layer_norm)
    block(X)
    randomise(block, 1)
    out = np.asarray(block(X))
    h = normalise(X, block.norm) if layer_norm else X
    expected = X + affine(np.tanh(affine(h, block.dense_1)), block.dense_2)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # a branch with zero output weights is the identity: a block can always be "switched off"
    block.dense_2.kernel.assign(np.zeros_like(block.dense_2.kernel))
    block.dense_2.bias.assign(np.zeros_like(block.dense_2.bias))
    np.testing.assert_allclose(np.asarray(block(X)), X, atol=1e-7)


def test_glu_is_linear_times_sigmoid_gate():
    glu = blocks.GLU(3)
    glu(X)
    randomise(glu, 2)
    expected = affine(X, glu.linear) * sigmoid(affine(X, glu.gate))
    np.testing.assert_allclose(np.asarray(glu(X)), expected, atol=1e-6)


def _grn_reference(grn, a, c=None):
    z = affine(a, grn.dense_2)
    if c is not None:
        z = z + c @ np.asarray(grn.context_dense.kernel)
    eta_2 = np.where(z > 0, z, np.expm1(z))  # ELU
    eta_1 = affine(eta_2, grn.dense_1)
    gated = affine(eta_1, grn.glu.linear) * sigmoid(affine(eta_1, grn.glu.gate))
    skip = a if grn.skip is None else affine(a, grn.skip)
    return normalise(skip + gated, grn.norm)


def test_grn_follows_the_tft_equations_with_a_skip_projection():
    grn = blocks.GRN(8, hidden_units=6)
    grn(X)
    randomise(grn, 3)
    assert grn.skip is not None  # 5 inputs, 8 outputs: the skip is a linear projection
    np.testing.assert_allclose(np.asarray(grn(X)), _grn_reference(grn, X), atol=1e-5)


def test_grn_with_identity_skip_and_a_context():
    grn = blocks.GRN(5)
    c = np.random.default_rng(4).normal(size=(6, 3)).astype("float32")
    grn(X, context=c)
    randomise(grn, 5)
    assert grn.skip is None
    out = np.asarray(grn(X, context=c))
    np.testing.assert_allclose(out, _grn_reference(grn, X, c), atol=1e-5)
    assert np.abs(out - np.asarray(grn(X, context=c + 1.0))).max() > 1e-3, "the context changes the output"
    with pytest.raises(ValueError, match="context"):
        grn(X)


def test_grn_static_context_is_broadcast_over_time():
    grn = blocks.GRN(4)
    x = np.random.default_rng(6).normal(size=(2, 7, 4)).astype("float32")
    c = np.random.default_rng(7).normal(size=(2, 3)).astype("float32")
    out = np.asarray(grn(x, context=c))
    assert out.shape == (2, 7, 4)
    np.testing.assert_allclose(out[:, 3], np.asarray(grn(x[:, 3], context=c)), atol=1e-5)


def test_grn_with_closed_gate_is_layer_norm_of_the_skip():
    grn = blocks.GRN(8)
    grn(X)
    randomise(grn, 8)
    grn.glu.gate.bias.assign(np.full(8, -40.0, dtype="float32"))
    np.testing.assert_allclose(np.asarray(grn(X)), normalise(affine(X, grn.skip), grn.norm), atol=1e-5)


@pytest.mark.parametrize(
    "layer",
    [blocks.ResidualBlock(7, activation="tanh", layer_norm=True, dropout=0.1), blocks.GLU(3), blocks.GRN(8, 6, 0.2)],
)
def test_get_config_round_trip(layer):
    layer(X)
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone(X)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(clone(X)), np.asarray(layer(X)), atol=1e-6)


@pytest.mark.parametrize(
    "build",
    [lambda: blocks.plain_mlp(5, 8, 3), lambda: blocks.residual_mlp(5, 8, 4), lambda: blocks.grn_mlp(5, 8, 2)],
)
def test_models_save_and_load(build, tmp_path):
    model = build()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


def test_residual_and_plain_mlp_have_the_same_number_of_dense_layers():
    def dense_kernels(model):
        return [v for v in model.trainable_variables if v.path.endswith("kernel") and "output" not in v.path]

    assert len(dense_kernels(blocks.plain_mlp(5, 8, depth=9))) == len(dense_kernels(blocks.residual_mlp(5, 8, depth=8))) == 9


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: blocks.GLU(0), "units"),
        (lambda: blocks.GRN(4, dropout=1.5), "dropout"),
        (lambda: blocks.ResidualBlock(2.5), "hidden_units"),
        (lambda: blocks.residual_mlp(5, depth=1), "depth"),
        (lambda: blocks.plain_mlp(0), "input_dim"),
    ],
)
def test_bad_arguments_say_what_to_do(call, message):
    with pytest.raises(ValueError, match=message):
        call()

"""dl4f.tcn: the receptive-field formula equals the field measured on built networks; the TCN is causal."""

import keras
import numpy as np
import pytest

from dl4f import tcn


@pytest.mark.parametrize(
    "kernel_size, dilations, convs_per_block",
    [(2, [1, 2, 4, 8], 1), (3, [1, 2, 4], 2), (5, [1, 3], 1), (2, [1, 1, 1], 1), (4, [2], 1)],
)
def test_formula_equals_measured_receptive_field(kernel_size, dilations, convs_per_block):
    expected = 1 + convs_per_block * (kernel_size - 1) * sum(dilations)
    assert tcn.receptive_field(kernel_size, dilations, convs_per_block) == expected
    keras.utils.set_random_seed(0)
    model = tcn.causal_tcn(
        window=48, filters=4, kernel_size=kernel_size, dilations=dilations, convs_per_block=convs_per_block,
        activation="tanh", return_sequences=True,
    )
    assert expected < 48, "the window must exceed the field for the measure to be the field"
    assert tcn.measured_receptive_field(model, 48) == expected
    reached = int((tcn.impulse_response(model, 48)[:, -1] > 0).sum())
    if dilations[0] == 1:  # dilations starting at 1 leave no gap: every input of the span is reached
        assert reached == expected
    else:  # one layer of dilation 2 and kernel 4 reads x_t, x_{t-2}, x_{t-4}, x_{t-6}: a span of 7, 4 inputs
        assert reached == kernel_size < expected


def test_relu_network_sees_exactly_its_receptive_field():
    keras.utils.set_random_seed(1)
    model = tcn.causal_tcn(window=40, filters=8, kernel_size=3, dilations=[1, 2, 4], return_sequences=True)
    influence = tcn.impulse_response(model, 40)[:, -1]
    field = tcn.receptive_field(3, [1, 2, 4])
    assert np.all(influence[: 40 - field] == 0), "no input older than the receptive field reaches the last output"
    assert influence[-1] > 0 and influence[40 - field] > 0, "the newest and the oldest input of the field do"


@pytest.mark.parametrize("convs_per_block", [1, 2])
def test_tcn_is_causal(convs_per_block):
    keras.utils.set_random_seed(2)
    model = tcn.causal_tcn(window=30, filters=6, kernel_size=3, dilations=[1, 2], convs_per_block=convs_per_block,
                           return_sequences=True)
    influence = tcn.impulse_response(model, 30)
    assert np.tril(influence, -1).max() == 0.0, "an input moved an earlier output"
    assert np.diag(influence).min() > 0, "every input moves its own step's output"
    # the same check, stated as in the chapter: changing the future leaves earlier outputs unchanged
    x = np.random.default_rng(3).normal(size=(2, 30, 1)).astype("float32")
    future = x.copy()
    future[:, 20:] += 10.0
    before, after = np.asarray(model(x)), np.asarray(model(future))
    np.testing.assert_array_equal(before[:, :20], after[:, :20])
    assert np.abs(before[:, 20] - after[:, 20]).max() > 0, "the first changed step's output moves"


def test_same_padding_would_fail_the_causality_check():
    """The check is not vacuous: a convolution with padding='same' reads the future and is caught."""
    keras.utils.set_random_seed(4)
    leaky = keras.Sequential([keras.Input((30, 1)), keras.layers.Conv1D(3, 5, padding="same")])
    assert np.tril(tcn.impulse_response(leaky, 30), -1).max() > 0


def test_forecaster_shape_and_default_dilations_cover_the_window():
    assert tcn.dilations_for(200, kernel_size=2) == [1, 2, 4, 8, 16, 32, 64, 128]
    assert tcn.dilations_for(200, kernel_size=3, convs_per_block=2) == [1, 2, 4, 8, 16, 32]
    for k, c in [(2, 1), (3, 2), (5, 1)]:
        dilations = tcn.dilations_for(200, k, c)
        assert tcn.receptive_field(k, dilations, c) >= 200 > tcn.receptive_field(k, dilations[:-1], c)
    model = tcn.causal_tcn(window=200, filters=4, kernel_size=3, convs_per_block=2)
    assert model.output_shape == (None, 1)
    assert model.predict(np.zeros((3, 200, 1), dtype="float32"), verbose=0).shape == (3, 1)


def test_forecaster_saves_and_loads(tmp_path):
    model = tcn.causal_tcn(window=20, filters=4, kernel_size=2)
    x = np.random.default_rng(5).normal(size=(3, 20, 1)).astype("float32")
    model.save(tmp_path / "tcn.keras")
    loaded = keras.models.load_model(tmp_path / "tcn.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: tcn.receptive_field(0, [1]), "kernel_size"),
        (lambda: tcn.receptive_field(2, []), "dilation"),
        (lambda: tcn.receptive_field(2, [1, 0]), "dilation"),
        (lambda: tcn.dilations_for(200, kernel_size=1), "kernel_size"),
        (lambda: tcn.causal_tcn(window=0), "window"),
    ],
)
def test_bad_arguments_say_what_to_do(call, message):
    with pytest.raises(ValueError, match=message):
        call()

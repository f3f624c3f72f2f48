"""dl4f.models: each builder has the TP's structure."""

import keras
import pytest
from sklearn.linear_model import LinearRegression

from dl4f import models
from dl4f.layers import GateLSTM


def _kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def test_lstm_and_gru_keep_only_the_last_state():
    for build, cls in [(models.lstm, keras.layers.LSTM), (models.gru, keras.layers.GRU)]:
        model = build()
        recurrent, dense = model.layers
        assert isinstance(recurrent, cls) and recurrent.units == 100 and not recurrent.return_sequences
        assert dense.units == 1 and dense.activation is keras.activations.linear
        assert model.input_shape == (None, 200, 1) and model.output_shape == (None, 1)
    # 4 gates x (input 1 + recurrent 100 + bias 1) x 100 units, then 100 + 1 for the Dense
    assert models.lstm().count_params() == 4 * 100 * (1 + 100 + 1) + 101


@pytest.mark.parametrize("build, cls", [(models.lstm_2layer, keras.layers.LSTM), (models.gru_2layer, keras.layers.GRU)])
def test_two_layer_models_return_sequences_from_the_first_layer_only(build, cls):
    model = build()
    first, second, dense = model.layers
    assert isinstance(first, cls) and isinstance(second, cls)
    assert first.return_sequences and not second.return_sequences
    assert first.units == second.units == 100 and model.output_shape == (None, 1)


def test_mlp_is_three_relu_layers_and_a_linear_output():
    model = models.mlp()
    assert _kinds(model) == ["Dense"] * 4
    assert [layer.units for layer in model.layers] == [100, 100, 100, 1]
    assert [layer.activation.__name__ for layer in model.layers] == ["relu", "relu", "relu", "linear"]
    assert model.input_shape == (None, 200)


def test_custom_lstm_uses_the_gate_equation_layer():
    model = models.custom_lstm(window=30, units=8)
    assert isinstance(model.layers[0], GateLSTM) and model.output_shape == (None, 1)
    assert model.count_params() == models.lstm(window=30, units=8).count_params()


def test_linear_regression_is_ordinary_least_squares():
    assert isinstance(models.linear_regression(), LinearRegression)


def test_builders_cover_the_seven_models_and_check_arguments():
    assert list(models.BUILDERS) == [
        "Linear regression", "MLP", "LSTM", "GRU", "LSTM (2 layers)", "GRU (2 layers)", "Custom LSTM",
    ]
    with pytest.raises(ValueError, match="units"):
        models.lstm(units=0)
    with pytest.raises(ValueError, match="window"):
        models.gru(window=-5)

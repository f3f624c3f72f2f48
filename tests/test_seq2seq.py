"""dl4f.seq2seq: multi-step windows, teacher forcing, free-running decoding and the baselines."""

import keras
import numpy as np
import pytest

from dl4f import seq2seq


def test_multi_step_windows_align_past_and_future():
    series = np.arange(10.0)
    X, Y = seq2seq.multi_step_windows(series, length=4, horizon=3)
    assert X.shape == (4, 4) and Y.shape == (4, 3)  # n = 10 - 4 - 3 + 1
    np.testing.assert_array_equal(X[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(Y[0], [4, 5, 6])
    np.testing.assert_array_equal(Y[-1], [7, 8, 9])
    with pytest.raises(ValueError, match="at least 8"):
        seq2seq.multi_step_windows(np.arange(7.0), 4, 4)
    with pytest.raises(ValueError, match="horizon"):
        seq2seq.multi_step_windows(series, 4, 0)


def test_teacher_inputs_are_the_true_previous_values():
    X, Y = seq2seq.multi_step_windows(np.arange(12.0), length=5, horizon=3)
    previous = seq2seq.Seq2Seq.teacher_inputs(X, Y)
    np.testing.assert_array_equal(previous[0], [4, 5, 6])  # x_t, y_1, y_2 for targets y_1, y_2, y_3
    np.testing.assert_array_equal(previous[:, 1:], Y[:, :-1])


def test_free_running_equals_teacher_forcing_fed_with_its_own_forecasts():
    keras.utils.set_random_seed(0)
    model = seq2seq.Seq2Seq(length=6, horizon=4, units=5)
    X = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    free = model.predict(X)
    assert free.shape == (3, 4)
    # feeding the decoder its own forecasts through the teacher-forcing model gives the same numbers
    own = np.concatenate([X[:, -1:], free[:, :-1]], axis=1)
    # with other values ("the truth") instead, the forecasts after the first step differ; one call for both
    truth = np.concatenate([X[:, -1:], free[:, :-1] + 1.0], axis=1)
    both = np.asarray(model.training_model([np.concatenate([X, X]), np.concatenate([own, truth])]))
    np.testing.assert_allclose(both[:3], free, atol=1e-5)
    forced = both[3:]
    np.testing.assert_allclose(forced[:, 0], free[:, 0], atol=1e-5)  # the first step reads x_t in both
    assert np.abs(forced[:, 1:] - free[:, 1:]).min() > 1e-6


def test_direct_model_shape_and_no_feedback():
    model = seq2seq.direct_model(length=8, horizon=5, units=4)
    assert model.output_shape == (None, 5)
    assert [layer.name for layer in model.layers if "LSTM" in type(layer).__name__] == ["encoder"]


def test_baselines():
    rng = np.random.default_rng(1)
    series = np.abs(rng.normal(size=400))
    X, Y = seq2seq.multi_step_windows(series, length=22, horizon=5)
    naive = seq2seq.naive_forecasts(X, 5)
    np.testing.assert_allclose(naive[:, 3], X.mean(axis=1))
    # HAR recovers a target built exactly from its regressors
    target = 0.5 + 0.2 * X[:, -1:] + 0.3 * X[:, -5:].mean(axis=1, keepdims=True) + np.arange(5) * 0.01
    forecast = seq2seq.har_direct(X[:300], target[:300], X[300:])
    np.testing.assert_allclose(forecast, target[300:], atol=1e-8)
    with pytest.raises(ValueError, match="too short"):
        seq2seq.har_direct(X[:, -10:], Y, X[:, -10:])

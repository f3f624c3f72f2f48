"""dl4f.embeddings: panel windows of many assets, embedding models, similarity measures."""

import keras
import numpy as np
import pandas as pd
import pytest

from dl4f import embeddings


def _returns():
    dates = pd.bdate_range("2024-01-01", periods=12)
    return pd.DataFrame({"A": np.arange(12.0), "B": 100 + np.arange(12.0)}, index=dates)


def test_panel_windows_stack_assets_with_ids_and_target_weekdays():
    panel = embeddings.panel_windows(_returns(), length=3)
    assert panel.X.shape == (18, 3) and panel.tickers == ["A", "B"]
    np.testing.assert_array_equal(panel.asset, [0] * 9 + [1] * 9)
    np.testing.assert_array_equal(panel.X[9], [100, 101, 102])
    assert panel.y[9] == 103 and panel.dates[9] == pd.Timestamp("2024-01-04")
    assert panel.weekday[0] == 3  # 2024-01-04 is a Thursday: the weekday of the target day
    train = panel.subset(panel.dates < "2024-01-10")
    assert len(train.y) == 8 and set(train.asset) == {0, 1}
    with pytest.raises(ValueError, match="NaN"):
        embeddings.panel_windows(_returns().replace(5.0, np.nan), 3)


def test_embedding_lookup_is_one_hot_times_table():
    keras.utils.set_random_seed(0)
    model = embeddings.panel_model(3, n_assets=4, asset_dim=2)
    E = embeddings.embedding_table(model)
    assert E.shape == (4, 2)
    layer = model.get_layer("asset_embedding")
    ids = np.array([2, 0, 3])
    np.testing.assert_allclose(np.asarray(layer(ids)), np.eye(4)[ids] @ E, atol=1e-7)
    inputs = {"window": np.ones((3, 3), "float32"), "asset": ids, "weekday": np.array([0, 1, 4])}
    assert model.predict(inputs, verbose=0).shape == (3, 1)
    assert embeddings.panel_model(3, 4, asset_encoding="onehot").count_params() > \
        embeddings.panel_model(3, 4, asset_encoding="none").count_params()
    with pytest.raises(ValueError, match="asset_encoding"):
        embeddings.panel_model(3, 4, asset_encoding="ticker")


def test_cosine_similarity_and_pca():
    E = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    S = embeddings.cosine_similarity(E)
    np.testing.assert_allclose(S, [[1, 1, 0], [1, 1, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(embeddings.upper_pairs(S), [1, 0, 0])
    coords = embeddings.pca_2d(np.random.default_rng(0).normal(size=(6, 4)))
    assert coords.shape == (6, 2) and np.var(coords[:, 0]) >= np.var(coords[:, 1])
    with pytest.raises(ValueError, match="zero"):
        embeddings.cosine_similarity(np.zeros((2, 2)))

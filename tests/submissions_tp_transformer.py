"""Submissions of the transformer TP written as a class would write them: honest, partly wrong, and hostile.

``build(student_version, source)`` returns ``{student: bytes}``. Honest: the solution (``full``) and a correct
solution written differently (``different``: the positional encoding with ``exp``/``log`` and slices, the mask as an
additive ``-1e9``, projections stored as ``(d_model, heads * key_dim)`` matrices and split with ``reshape``, a pre-LN
block with ``Add`` layers and a ``Dropout``, a model with an asset input of shape ``(1,)`` and list inputs, the
last day taken with ``Cropping1D``, an LSTM fed a list, the HAR features from a DataFrame).
Partly wrong: ``noncausal`` (no causal mask, in the layer nor in the block), ``wrapper`` (``MyMultiHeadAttention``
subclasses Keras's layer). Hostile ones start from the untouched student version (their honest work earns 0): a
model whose ``predict`` returns the test targets read from the cache, forging the artifacts from the grader's
input files with links and broken files. ``EXPECTED`` says what each must get.
"""

from __future__ import annotations

import copy

import nbformat
import tp_course
from tp_course import after as _after
from tp_course import solution_answers

DIFFERENT_Q1 = '''
def positional_encoding(length, d_model):
    position = np.arange(length, dtype="float64").reshape(-1, 1)
    div = np.exp(np.arange(0, d_model, 2) * -(np.log(10000.0) / d_model))
    pe = np.zeros((length, d_model))
    pe[:, 0::2] = np.sin(position * div)
    pe[:, 1::2] = np.cos(position * div)
    return pe


def embed_inputs(window, asset, d_model, n_assets=tpt.N_ASSETS):
    days = keras.layers.Dense(units=d_model)(window)
    stock = keras.layers.Reshape((1, d_model))(keras.layers.Embedding(input_dim=n_assets, output_dim=d_model)(asset))
    positions = positional_encoding(window.shape[1], d_model).astype("float32")[None, :, :]
    return ops.add(ops.add(days, positions), stock)
'''

DIFFERENT_Q2 = '''
def scaled_dot_product_attention(query, key, value, mask=None):
    depth = ops.cast(ops.shape(query)[-1], "float32")
    logits = ops.einsum("bhqd,bhkd->bhqk", query, key) / ops.sqrt(depth)
    if mask is not None:
        logits = logits + (1.0 - ops.cast(mask, logits.dtype)) * -1e9
    weights = ops.exp(logits - ops.max(logits, axis=-1, keepdims=True))
    weights = weights / ops.sum(weights, axis=-1, keepdims=True)
    return ops.einsum("bhqk,bhkd->bhqd", weights, value), weights


class MyMultiHeadAttention(keras.layers.Layer):
    def __init__(self, num_heads, key_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim

    def build(self, query_shape, value_shape, key_shape=None):
        width = self.num_heads * self.key_dim
        self.params = []
        for name, d_in in (("q", query_shape[-1]), ("k", value_shape[-1]), ("v", value_shape[-1])):
            self.params.append(self.add_weight(shape=(d_in, width), name=f"w{name}"))
            self.params.append(self.add_weight(shape=(width,), initializer="zeros", name=f"b{name}"))
        self.params.append(self.add_weight(shape=(width, query_shape[-1]), name="wo"))
        self.params.append(self.add_weight(shape=(query_shape[-1],), initializer="zeros", name="bo"))

    def _split(self, x, w, b):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        y = ops.reshape(ops.matmul(x, w) + b, (batch, length, self.num_heads, self.key_dim))
        return ops.transpose(y, (0, 2, 1, 3))

    def call(self, query, value, key=None, use_causal_mask=False):
        key = value if key is None else key
        wq, bq, wk, bk, wv, bv, wo, bo = self.params
        q, k, v = self._split(query, wq, bq), self._split(key, wk, bk), self._split(value, wv, bv)
        mask = None
        if use_causal_mask:
            mask = ops.cast(ops.tril(ops.ones((query.shape[1], key.shape[1]))), "bool")
        heads, _ = scaled_dot_product_attention(q, k, v, mask=mask)
        heads = ops.transpose(heads, (0, 2, 1, 3))
        batch, length = ops.shape(heads)[0], ops.shape(heads)[1]
        return ops.matmul(ops.reshape(heads, (batch, length, self.num_heads * self.key_dim)), wo) + bo
'''

DIFFERENT_Q3 = '''
def encoder_block(x, num_heads, key_dim, ff_dim, attention=keras.layers.MultiHeadAttention):
    normed = keras.layers.LayerNormalization(epsilon=1e-6)(x)
    attended = attention(num_heads=num_heads, key_dim=key_dim)(normed, normed, use_causal_mask=True)
    x = keras.layers.Add()([x, keras.layers.Dropout(0.0)(attended)])
    normed = keras.layers.LayerNormalization(epsilon=1e-6)(x)
    expanded = keras.layers.Dense(ff_dim, activation=keras.activations.relu)(normed)
    return keras.layers.Add()([x, keras.layers.Dense(x.shape[-1])(expanded)])
'''

DIFFERENT_Q4 = '''
def har_features(X):
    own = pd.DataFrame(X[:, :, 0])
    market = pd.DataFrame(X[:, :, 1])
    columns = []
    for frame in (own, market):
        columns += [frame.iloc[:, -1], frame.iloc[:, -5:].mean(axis=1), frame.mean(axis=1)]
    return pd.concat(columns, axis=1).to_numpy()


def build_transformer(window=tpt.WINDOW, n_features=len(tpt.FEATURES), n_assets=tpt.N_ASSETS):
    window_in = keras.Input(shape=(window, n_features), name="window")
    asset_in = keras.Input(shape=(1,), dtype="int32", name="asset")
    x = embed_inputs(window_in, asset_in, 16, n_assets)
    x = encoder_block(x, 2, 8, 32)
    last = keras.layers.Flatten()(keras.layers.Cropping1D((window - 1, 0))(x))
    return keras.Model(inputs=[window_in, asset_in], outputs=keras.layers.Dense(1)(last))


def build_lstm(window=tpt.WINDOW, n_features=len(tpt.FEATURES), n_assets=tpt.N_ASSETS):
    window_in, asset_in = keras.Input((window, n_features), name="window"), keras.Input((1,), name="asset")
    stock = keras.layers.Flatten()(keras.layers.Embedding(n_assets, 4)(asset_in))
    joined = keras.layers.concatenate([keras.layers.LSTM(units=16)(window_in), stock])
    return keras.Model([window_in, asset_in], keras.layers.Dense(1)(joined))


model_har = LinearRegression()
model_har.fit(pd.DataFrame(har_features(data.X_train)), data.y_train)

keras.utils.set_random_seed(0)
model_transformer = build_transformer()
model_transformer.compile(optimizer=keras.optimizers.Adam(learning_rate=tpt.learning_rate()),
                          loss=keras.losses.MeanSquaredError())
model_transformer.fit([data.X_train, data.asset_train.reshape(-1, 1)], data.y_train, **tpt.fit_kwargs())

keras.utils.set_random_seed(0)
model_lstm = build_lstm()
model_lstm.compile(optimizer=keras.optimizers.Adam(tpt.learning_rate()), loss="mean_squared_error")
model_lstm.fit([data.X_train, data.asset_train[:, None]], data.y_train, **tpt.fit_kwargs())
'''

# Keras's layer under the student's name: the right numbers, not the student's equations.
WRAPPER_Q2 = '''
class MyMultiHeadAttention(keras.layers.MultiHeadAttention):
    def __init__(self, num_heads, key_dim, **kwargs):
        super().__init__(num_heads=num_heads, key_dim=key_dim, **kwargs)
'''

# A model whose predictions are the test targets, read from the data cache inside the sandbox.
CHEAT_PREDICT = '''
import dl4f.tp_transformer as _tpt


class Oracle(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1)

    def call(self, x):
        return self.dense(x["window"][:, -1, :])

    def predict(self, x, **kwargs):
        return _tpt.load_data().y_test[: len(x["window"])].reshape(-1, 1)


model_transformer = Oracle()
model_transformer(data.inputs("test"))
model_lstm = model_transformer
'''

# Write artifacts from the grader's input files, stop the real export, and leave links and broken files.
FORGE = '''
import os as _os
import numpy as _np
import dl4f.tp_transformer_artifacts as _art
def _forged(namespace, out_dir, inputs_dir):
    _os.makedirs(out_dir, exist_ok=True)
    spec = dict(_np.load(f"{inputs_dir}/transformer.npz"))
    _np.savez(f"{out_dir}/mha.npz", **{f"out_{i}": spec[f"mha{i}_query"] for i in range(int(spec["n_mha"]))})
    _np.savez(f"{out_dir}/pe.npz", **{f"pe_{i}": _np.zeros((int(L), int(d))) for i, (L, d) in enumerate(spec["pe_sizes"])})
    for name in ("model_transformer.keras", "model_lstm.keras", "attention.npz", "block_0.keras", "block_1.keras"):
        _os.symlink("/etc/passwd", f"{out_dir}/{name}")
    open(f"{out_dir}/har.npz", "w").write("not an npz")
    return {}
_art.export_artifacts = _forged
'''

# An identity "block": causal, trivially (issue 16: q3_causal was 2/2). Causality is credited only to a block.
IDENTITY_Q3 = '''
def encoder_block(x, num_heads, key_dim, ff_dim, attention=keras.layers.MultiHeadAttention):
    return keras.layers.Identity()(x)
'''


def build(student_version: nbformat.NotebookNode, source: nbformat.NotebookNode) -> dict[str, bytes]:
    answers = solution_answers(source)
    blank = copy.deepcopy(student_version)

    def with_answers(changes: dict):
        return tp_course.with_answers(student_version, changes)

    q2, q3 = answers["q2_answer"], answers["q3_answer"]
    causal_mask = "mask = np.tril(np.ones((query.shape[1], key.shape[1]), dtype=bool)) if use_causal_mask else None"
    assert causal_mask in q2 and "(x, x, use_causal_mask=True)" in q3
    noncausal = {**answers, "q2_answer": q2.replace(causal_mask, "mask = None"),
                 "q3_answer": q3.replace("(x, x, use_causal_mask=True)", "(x, x)")}
    sdpa = q2.split("class MyMultiHeadAttention")[0]
    different = with_answers({**answers, "q1_answer": DIFFERENT_Q1, "q2_answer": DIFFERENT_Q2,
                              "q3_answer": DIFFERENT_Q3, "q4_answer": DIFFERENT_Q4})
    out = {
        "full": with_answers(answers),
        "different": different,
        "blank": blank,
        "noncausal": with_answers(noncausal),
        "wrapper": with_answers({**answers, "q2_answer": sdpa + WRAPPER_Q2}),
        "oracle": _after(blank, "setup", CHEAT_PREDICT),
        "forge": _after(blank, "setup", FORGE),
        "identity": with_answers({"q3_answer": IDENTITY_Q3}),
    }
    return {name: nbformat.writes(nb).encode() for name, nb in out.items()}


# What each must get: total points, and the status of its run.
EXPECTED = {
    "full": (30, "graded"),
    "different": (30, "graded"),
    "blank": (0, "graded"),
    # loses q2_tests, q2_equals_keras, q2_causal (1 + 4 + 2) and all of Question 3 (6)
    "noncausal": (17, "graded"),
    # a ready-made attention in the notebook: no point in Question 2, its visible test included (22 before)
    "wrapper": (21, "graded"),
    "oracle": (0, "graded"),
    "forge": (0, "graded"),
    "identity": (0, "graded"),  # an identity block is causal but no block (q3_causal 2 before)
}

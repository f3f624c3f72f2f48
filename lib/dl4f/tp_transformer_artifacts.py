"""What a graded run of the transformer TP hands the grader: runs in the sandbox, after the student's last cell.

``export_artifacts(namespace, out_dir, inputs_dir)`` calls the notebook's functions and classes on the inputs the
grader placed in ``inputs_dir/transformer.npz`` and saves what they return, as data:

- ``pe.npz``: ``positional_encoding(length, d_model)`` at the grader's sizes;
- ``embed_<i>.keras``: a model ``(window, asset) -> embed_inputs(window, asset, d_model, n_assets)`` at the grader's
  sizes; ``block_<i>.keras``: a model ``x -> encoder_block(x, num_heads, key_dim, ff_dim)`` (the grader reloads
  them with Keras's own layers only, gives them weights of its own and compares them with its equations);
- ``attention.npz``: ``scaled_dot_product_attention(q, k, v, mask)`` (outputs and weights) on the grader's inputs;
- ``mha.npz``: ``MyMultiHeadAttention(num_heads, key_dim)`` with the grader's weights (copied in Keras's order,
  each reshaped to the layer's own shape when it holds the same numbers), on the grader's inputs; for causal
  probes also on inputs changed after a position (``future_<i>``);
- ``model_transformer.keras``, ``model_lstm.keras``: the trained models; ``har.npz``: ``har_features`` on the
  grader's windows and ``model_har``'s coefficients;
- ``export.json``: what was saved, and every error.

Nothing here is trusted (the student's code runs in the same process): the grader judges the files, as data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dl4f.artifacts import Report, callable_from, save_trained
from dl4f.artifacts import floats as _floats
from dl4f.artifacts import read_npz as _npz
from dl4f.artifacts import save_keras as _save_keras
from dl4f.artifacts import short_error as _short_error
from dl4f.export_facts import sublayer_classes
from dl4f.tp_transformer import copy_weights

# The notebook's globals the export reads: dl4f.submission_run saves them after each cell, dl4f.export_run restores them.
NAMES = ("positional_encoding", "embed_inputs", "scaled_dot_product_attention", "MyMultiHeadAttention", "encoder_block",
         "model_transformer", "model_lstm", "har_features", "model_har")
MHA_WEIGHTS = ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")  # Keras's order: kernel then bias, q, k, v, output


def export_artifacts(namespace: dict, out_dir, inputs_dir) -> dict:
    """Save the artifacts of the transformer TP from ``namespace`` (the notebook's globals) into ``out_dir``."""
    import keras

    out, inputs = Path(out_dir), Path(inputs_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = Report()
    attempt = report.attempt
    spec = _npz(inputs / "transformer.npz")

    def get(name, kind="function"):
        return callable_from(namespace, name, kind)

    def each(arrays: dict, key: str, fn) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001
            arrays[f"error_{key}"] = np.array(_short_error(exc))

    def pe():
        fn, arrays = get("positional_encoding"), {}
        for i, (length, d) in enumerate(spec["pe_sizes"]):
            each(arrays, f"pe_{i}", lambda i=i, length=length, d=d: arrays.__setitem__(
                f"pe_{i}", _floats(fn(int(length), int(d)))))
        np.savez(out / "pe.npz", **arrays)
        return "saved"

    def embed():
        fn = get("embed_inputs")
        for i, (length, features, d, n) in enumerate(spec["embed_sizes"]):
            def save(i=i, length=int(length), features=int(features), d=int(d), n=int(n)):
                window = keras.Input((length, features), name="window")
                asset = keras.Input((), dtype="int32", name="asset")
                model = keras.Model([window, asset], fn(window, asset, d, n))
                return _save_keras(model, out / f"embed_{i}.keras")
            attempt(f"embed_{i}", save)
        return "done"

    def attention():
        fn, arrays = get("scaled_dot_product_attention"), {}
        for i in range(int(spec["n_attention"])):
            def run(i=i):
                p = {k: spec[f"att{i}_{k}"] for k in ("q", "k", "v", "mask") if f"att{i}_{k}" in spec}
                result = fn(p["q"].astype("float32"), p["k"].astype("float32"), p["v"].astype("float32"),
                            p.get("mask"))
                if not isinstance(result, (tuple, list)) or len(result) != 2:
                    raise TypeError("scaled_dot_product_attention must return (output, weights)")
                arrays[f"out_{i}"], arrays[f"weights_{i}"] = _floats(result[0]), _floats(result[1])
            each(arrays, f"out_{i}", run)
        np.savez(out / "attention.npz", **arrays)
        return "saved"

    def mha():
        cls, arrays = namespace.get("MyMultiHeadAttention"), {}
        if not isinstance(cls, type):
            raise NameError("MyMultiHeadAttention is not defined as a class (did its cell run?)")
        for i in range(int(spec["n_mha"])):
            def run(i=i):
                p = {k[len(f"mha{i}_"):]: v for k, v in spec.items() if k.startswith(f"mha{i}_")}
                query, value = p["query"].astype("float32"), p["value"].astype("float32")
                layer = cls(num_heads=int(p["num_heads"]), key_dim=int(p["key_dim"]))
                layer(query, value)  # builds the weights
                if i == 0:  # run-time fact: the layers it holds (no ready-made attention inside)
                    arrays["sublayers"] = np.array(sublayer_classes(layer) or ["none"])
                copy_weights(layer, [p[k] for k in MHA_WEIGHTS])
                causal = "x_future" in p
                arrays[f"out_{i}"] = _floats(layer(query, value, use_causal_mask=causal))
                if causal:
                    future = p["x_future"].astype("float32")
                    arrays[f"future_{i}"] = _floats(layer(future, future, use_causal_mask=True))
            each(arrays, f"out_{i}", run)
        np.savez(out / "mha.npz", **arrays)
        return "saved"

    def block():
        fn = get("encoder_block")
        for i, (length, d, h, dk, ff) in enumerate(spec["block_sizes"]):
            def save(i=i, length=int(length), d=int(d), h=int(h), dk=int(dk), ff=int(ff)):
                x = keras.Input((length, d))
                model = keras.Model(x, fn(x, num_heads=h, key_dim=dk, ff_dim=ff))
                return _save_keras(model, out / f"block_{i}.keras")
            attempt(f"block_{i}", save)
        return "done"

    def models():
        for name in ("model_transformer", "model_lstm"):
            attempt(name, lambda n=name: save_trained(namespace, n, out))
        return "done"

    def har():
        arrays = {}
        each(arrays, "features", lambda: arrays.__setitem__("features", _floats(get("har_features")(spec["har_X"]))))
        model = namespace.get("model_har")
        if model is None:
            arrays["error_coef"] = np.array("model_har is not defined (did its cell run?)")
        else:
            def coefficients():
                arrays["coef"] = _floats(model.coef_).reshape(-1)
                arrays["intercept"] = _floats(model.intercept_).reshape(-1)
            each(arrays, "coef", coefficients)
        np.savez(out / "har.npz", **arrays)
        return "saved"

    attempt("positional_encoding", pe)
    attempt("embed_inputs", embed)
    attempt("scaled_dot_product_attention", attention)
    attempt("MyMultiHeadAttention", mha)
    attempt("encoder_block", block)
    attempt("models", models)
    attempt("har", har)
    return report.write(out)

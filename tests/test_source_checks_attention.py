"""The static "own code" checks of dl4f_grading.source_checks applied to the transformer TP's attention: the
student's ``scaled_dot_product_attention`` and ``MyMultiHeadAttention`` must write the equations with keras.ops,
without a ready-made attention layer or function (Keras, jax, dl4f.attention, torch, flax), however it is reached.
Pure AST: nothing here builds or runs a model."""

import textwrap

import pytest

from dl4f_grading import source_checks
from dl4f_grading.source_checks import ATTENTION_RULES, LSTM_RULES, Rules, own_code_problems

ENTRIES = ["scaled_dot_product_attention", "MyMultiHeadAttention"]
LAYERS = ("MyMultiHeadAttention",)
TASK = "write the attention's equations with keras.ops yourself"
DUTY = "must write the attention's equations with keras.ops itself, but it (or code it uses)"

HEADER = '''
import dl4f
import keras
from keras import ops
from dl4f import tp_transformer as tp
'''

SDPA = '''
def scaled_dot_product_attention(query, key, value, mask=None):
    """softmax(Q K^T / sqrt(d)) V; the MultiHeadAttention of the paper, one head at a time."""
    d = ops.shape(query)[-1]
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) / ops.sqrt(ops.cast(d, query.dtype))
    if mask is not None:
        scores = ops.where(mask, scores, -1e9)
    attention_weights = ops.softmax(scores, axis=-1)
    return ops.matmul(attention_weights, value), attention_weights
'''

EINSUM_CLASS = '''
class MyMultiHeadAttention(keras.layers.Layer):
    """Multi-head attention written by hand (not keras.layers.MultiHeadAttention)."""

    def __init__(self, num_heads, key_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.key_dim = num_heads, key_dim

    def build(self, input_shape):
        d_model = input_shape[-1]
        shape = (d_model, self.num_heads, self.key_dim)
        self.w_q = self.add_weight(shape=shape, name="w_q")
        self.b_q = self.add_weight(shape=(self.num_heads, self.key_dim), initializer="zeros", name="b_q")
        self.w_k = self.add_weight(shape=shape, name="w_k")
        self.b_k = self.add_weight(shape=(self.num_heads, self.key_dim), initializer="zeros", name="b_k")
        self.w_v = self.add_weight(shape=shape, name="w_v")
        self.b_v = self.add_weight(shape=(self.num_heads, self.key_dim), initializer="zeros", name="b_v")
        self.w_o = self.add_weight(shape=(self.num_heads, self.key_dim, d_model), name="w_o")
        self.b_o = self.add_weight(shape=(d_model,), initializer="zeros", name="b_o")

    def call(self, query, value, key=None, attention_mask=None):
        key = value if key is None else key
        q = ops.einsum("btd,dhk->bhtk", query, self.w_q) + self.b_q[:, None, :]
        k = ops.einsum("bsd,dhk->bhsk", key, self.w_k) + self.b_k[:, None, :]
        v = ops.einsum("bsd,dhk->bhsk", value, self.w_v) + self.b_v[:, None, :]
        mask = None if attention_mask is None else attention_mask[:, None, :, :]
        heads, _ = scaled_dot_product_attention(q, k, v, mask)
        return ops.einsum("bhtk,hkd->btd", heads, self.w_o) + self.b_o
'''

ENCODER = '''
def encoder_block(x, num_heads=2, key_dim=8):
    # Question 3 compares with Keras's layer: keras.layers.MultiHeadAttention is fine here, outside the entries.
    attention = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=key_dim)(x, x)
    return keras.layers.LayerNormalization()(x + attention)

reference = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)
'''

HONEST = HEADER + SDPA + EINSUM_CLASS + ENCODER

HONEST_DENSE = HEADER + '''
import numpy as np
import jax.numpy as jnp

N_HEADS = 4


def _split_heads(x, num_heads):
    batch, length, width = ops.shape(x)
    x = ops.reshape(x, (batch, length, num_heads, width // num_heads))
    return ops.transpose(x, (0, 2, 1, 3))


def _merge_heads(x):
    batch, heads, length, depth = ops.shape(x)
    return ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (batch, length, heads * depth))


def scaled_dot_product_attention(query, key, value, mask=None):
    scale = 1.0 / np.sqrt(query.shape[-1])
    scores = ops.einsum("...qd,...kd->...qk", query, key) * scale
    if mask is not None:
        scores = jnp.where(mask, scores, -jnp.inf)
    weights = ops.softmax(scores, axis=-1)
    return ops.einsum("...qk,...kd->...qd", weights, value), weights


class AttentionBase(keras.layers.Layer):
    """A local base class: its name contains "Attention", it is the student's own."""

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


class MyMultiHeadAttention(AttentionBase):
    def __init__(self, num_heads=N_HEADS, key_dim=8, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.key_dim = num_heads, key_dim
        self.q_proj = keras.layers.Dense(num_heads * key_dim)
        self.k_proj = keras.layers.Dense(num_heads * key_dim)
        self.v_proj = keras.layers.EinsumDense("btd,de->bte", output_shape=(None, num_heads * key_dim))
        self.out = keras.layers.Dense(1)

    def call(self, query, value, key=None, attention_mask=None):
        key = value if key is None else key
        q = _split_heads(self.q_proj(query), self.num_heads)
        k = _split_heads(self.k_proj(key), self.num_heads)
        v = _split_heads(self.v_proj(value), self.num_heads)
        heads, self.last_attention_scores = scaled_dot_product_attention(q, k, v, attention_mask)
        return self.out(_merge_heads(heads))
'''


def problems(source: str) -> list[str]:
    return own_code_problems(source, ENTRIES, ATTENTION_RULES, layer_classes=LAYERS)


def test_honest_attention_sources_have_no_problem():
    assert problems(HONEST) == []
    assert problems(HONEST_DENSE) == []


def test_a_name_a_comment_or_a_docstring_that_contains_a_forbidden_name_is_fine():
    assert "MultiHeadAttention" in SDPA and "attention_weights" in SDPA
    assert problems(HEADER + SDPA + EINSUM_CLASS) == []


def replace_call(new_line: str, extra: str = "") -> str:
    """HONEST with the line that calls the student's function replaced by ``new_line`` (the class's call)."""
    old = "        heads, _ = scaled_dot_product_attention(q, k, v, mask)\n"
    assert old in HONEST
    return HONEST.replace(old, textwrap.indent(textwrap.dedent(new_line).strip("\n"), " " * 8) + "\n") + extra


CHEATS = {
    "subclasses keras.layers.MultiHeadAttention": (
        HEADER + SDPA + '''
class MyMultiHeadAttention(keras.layers.MultiHeadAttention):
    pass
''', [
            # the check reads the class statement: the base must be keras.layers.Layer (or a class of the notebook)
            "MyMultiHeadAttention must derive from keras.layers.Layer (class MyMultiHeadAttention(keras.layers.Layer))",
            "MyMultiHeadAttention " + DUTY + " uses keras.layers.MultiHeadAttention",
            "class MyMultiHeadAttention derives from keras.layers.MultiHeadAttention: " + TASK,
        ]),
    "calls keras.layers.MultiHeadAttention in call": (
        replace_call('''
            heads = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(query, value)
        '''),
        ["MyMultiHeadAttention " + DUTY + " uses keras.layers.MultiHeadAttention"]),
    "keras.ops.dot_product_attention": (
        HONEST.replace("    attention_weights = ops.softmax(scores, axis=-1)\n"
                       "    return ops.matmul(attention_weights, value), attention_weights\n",
                       "    return ops.dot_product_attention(query, key, value), None\n"),
        ["scaled_dot_product_attention " + DUTY + " uses keras.ops.dot_product_attention",
         # reached through the student's function: the class is refused too
         "MyMultiHeadAttention " + DUTY + " uses keras.ops.dot_product_attention"]),
    "jax.nn.dot_product_attention": (
        "import jax\n" + replace_call("heads = jax.nn.dot_product_attention(q, k, v)"),
        ["MyMultiHeadAttention " + DUTY + " uses jax.nn.dot_product_attention"]),
    "from dl4f.attention import MultiHeadAttention as M": (
        "from dl4f.attention import MultiHeadAttention as M\n"
        + replace_call("heads = M(2, 8)(query, value)"),
        ["MyMultiHeadAttention " + DUTY + " uses dl4f.attention.MultiHeadAttention (as M)",
         "dl4f.attention.MultiHeadAttention is bound to another name, M: " + TASK]),
    "dl4f.attention's scaled_dot_product_attention": (
        "from dl4f import attention\n"
        + replace_call("heads, _ = attention.scaled_dot_product_attention(q, k, v, mask)"),
        ["MyMultiHeadAttention " + DUTY + " uses dl4f.attention.scaled_dot_product_attention; uses dl4f.attention"]),
    "imported function of the same name": (
        HEADER + "from dl4f.attention import scaled_dot_product_attention\n" + EINSUM_CLASS,
        ["scaled_dot_product_attention is not defined at the top level of the notebook",
         "MyMultiHeadAttention " + DUTY + " uses dl4f.attention.scaled_dot_product_attention"]),
    "from keras.ops import dot_product_attention": (
        "from keras.ops import dot_product_attention\n" + replace_call("heads = dot_product_attention(q, k, v)"),
        ["MyMultiHeadAttention " + DUTY + " uses keras.ops.dot_product_attention"]),
    "jax's function renamed": (
        "from jax.nn import dot_product_attention as attend\n" + replace_call("heads = attend(q, k, v)"),
        ["MyMultiHeadAttention " + DUTY + " uses jax.nn.dot_product_attention (as attend)",
         "jax.nn.dot_product_attention is bound to another name, attend: " + TASK]),
    "torch's scaled_dot_product_attention": (
        "import torch\n"
        + replace_call("heads = torch.nn.functional.scaled_dot_product_attention(q, k, v)"),
        ["MyMultiHeadAttention " + DUTY + " uses torch.nn.functional.scaled_dot_product_attention; uses torch"]),
    "getattr with a computed name": (
        replace_call('heads = getattr(keras.layers, "Multi" + "HeadAttention")(2, 8)(query, value)'),
        ["MyMultiHeadAttention " + DUTY + " getattr(keras.layers, a computed name): use the module's attributes by "
         "their names, do not change them",
         "getattr(keras.layers, a computed name): use the module's attributes by their names, do not change them"]),
    "getattr of keras.ops with the function's name": (
        replace_call('heads = getattr(ops, "dot_product_attention")(q, k, v)'),
        ["MyMultiHeadAttention " + DUTY + " getattr(keras.ops, 'dot_product_attention'): use the module's "
         "attributes by their names, do not change them",
         "getattr(keras.ops, 'dot_product_attention'): use the module's attributes by their names, do not change them"]),
    "importlib": (
        "import importlib\n"
        + replace_call('heads = importlib.import_module("keras.layers").MultiHeadAttention(2, 8)(query, value)'),
        ["MyMultiHeadAttention " + DUTY + " importlib: import modules with import statements",
         "importlib: import modules with import statements"]),
    "module-level alias": (
        "import keras\nMHA = keras.layers.MultiHeadAttention\n" + replace_call("heads = MHA(2, 8)(query, value)"),
        ["MyMultiHeadAttention " + DUTY + " uses keras.layers.MultiHeadAttention (as MHA)",
         "keras.layers.MultiHeadAttention is bound to another name, MHA: " + TASK]),
    "helper function reached by the class": (
        replace_call("heads = _attend(query, value)", extra='''
def _attend(x, y):
    return keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, y)
'''),
        ["MyMultiHeadAttention " + DUTY + " uses keras.layers.MultiHeadAttention"]),
    "eval": (
        replace_call('heads = eval("keras.layers.MultiHeadAttention")(2, 8)(query, value)'),
        ["MyMultiHeadAttention " + DUTY + " eval(...) runs code built at run time: not allowed in the grading of "
         "MyMultiHeadAttention",
         "eval(...) runs code built at run time: not allowed in the grading of scaled_dot_product_attention, "
         "MyMultiHeadAttention"]),
    "star import": (
        "from keras.layers import *\n" + replace_call("heads = MultiHeadAttention(2, 8)(query, value)"),
        ["MyMultiHeadAttention " + DUTY + " uses MultiHeadAttention",
         "from keras.layers import *: import the names you use"]),
    "assignment into keras.ops": (
        "import keras\nkeras.ops.matmul = keras.ops.dot_product_attention\n" + HONEST,
        ["assigns to keras.ops.matmul: a module of the course or of a library (or what it holds) must not be changed"]),
}


@pytest.mark.parametrize("name", list(CHEATS))
def test_each_cheat_is_refused_with_a_message_that_names_it(name):
    source, expected = CHEATS[name]
    assert problems(source) == expected


def test_missing_entries_and_a_class_that_is_not_a_layer():
    only_class = HEADER + EINSUM_CLASS.replace("heads, _ = scaled_dot_product_attention(q, k, v, mask)",
                                               "heads = q")
    assert problems(only_class) == ["scaled_dot_product_attention is not defined at the top level of the notebook"]
    not_a_layer = HEADER + SDPA + "class MyMultiHeadAttention:\n    pass\n"
    assert problems(not_a_layer) == [
        "MyMultiHeadAttention must derive from keras.layers.Layer (class MyMultiHeadAttention(keras.layers.Layer))"]
    function_not_class = HEADER + SDPA + "def MyMultiHeadAttention(x):\n    return x\n"
    assert problems(function_not_class) == ["class MyMultiHeadAttention is not defined at the top level of the notebook"]


def test_the_functions_own_name_resolves_to_the_notebooks_definition():
    # dot_product_attention is forbidden, but a function of the notebook with that name is the student's own
    own = HONEST.replace("scaled_dot_product_attention", "dot_product_attention")
    assert own_code_problems(own, ["dot_product_attention", "MyMultiHeadAttention"], ATTENTION_RULES,
                             layer_classes=LAYERS) == []
    undefined = HONEST.replace("def scaled_dot_product_attention", "def sdpa")
    assert problems(undefined) == [
        "scaled_dot_product_attention is not defined at the top level of the notebook"]


def test_what_the_lstm_rules_refuse_is_unchanged():
    lstm = "import keras\nclass CustomLSTM(keras.layers.Layer):\n    def build(self, s):\n" \
           "        self.cell = keras.layers.LSTM(4)\n"
    expected = ["CustomLSTM must write the LSTM's equations itself, but it (or code it uses) uses keras.layers.LSTM"]
    assert source_checks.lstm_source_problems(lstm) == expected
    assert own_code_problems(lstm, ["CustomLSTM"], LSTM_RULES, layer_classes=("CustomLSTM",)) == expected
    # the attention rules do not refuse an LSTM, and the LSTM rules do not refuse attention
    assert own_code_problems(lstm, ["CustomLSTM"], ATTENTION_RULES) == []
    assert own_code_problems(replace_call("heads = keras.layers.MultiHeadAttention(2, 8)(query, value)"),
                             ENTRIES, LSTM_RULES, layer_classes=LAYERS) == []


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="entries"):
        own_code_problems(HONEST, "MyMultiHeadAttention", ATTENTION_RULES)
    with pytest.raises(ValueError, match="entries"):
        own_code_problems(HONEST, [], ATTENTION_RULES)
    with pytest.raises(ValueError, match="layer_classes"):
        own_code_problems(HONEST, ["scaled_dot_product_attention"], ATTENTION_RULES, layer_classes=LAYERS)
    with pytest.raises(ValueError, match="Rules"):
        own_code_problems(HONEST, ENTRIES, {"names": {"LSTM"}})
    with pytest.raises(ValueError, match="task"):
        Rules(names=frozenset({"X"}), modules=(), task="")
    assert own_code_problems("class MyMultiHeadAttention(:\n", ENTRIES, ATTENTION_RULES)[0].startswith(
        "the code does not parse")

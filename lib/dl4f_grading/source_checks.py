"""Static checks of a student's "own code" (Question 4 of the RNN TP, the attention of the transformer TP): read
the code as text (``ast``), never execute it.

- ``Rules``: what an exercise forbids (ready-made layers or functions by name, whole modules) and the phrase said
  to the student (``task``). ``LSTM_RULES``: recurrent layers and cells (``LSTM``, ``LSTMCell``, ``GRU``,
  ``GRUCell``, ``SimpleRNN``, ``SimpleRNNCell``, ``ConvLSTM*``, ``GateLSTM``, ``GateLSTMCell``, the modules
  ``dl4f.layers``, ``dl4f.models``, ``keras.src.layers.rnn``). ``ATTENTION_RULES``: attention layers and functions
  (``MultiHeadAttention``, ``Attention``, ``dot_product_attention``..., the modules ``dl4f.attention``,
  ``keras.src.layers.attention``, ``torch``, ``flax``); ``keras.layers.Dense``/``EinsumDense``, the other
  ``keras.ops``, ``numpy`` and ``jax.numpy`` stay allowed.
- ``own_code_problems(source, entries, rules, layer_classes=...)``: each entry (a function or class) is defined at
  the top level of the notebook, each of ``layer_classes`` derives from a Keras ``Layer``, and neither an entry nor
  anything it reaches (module-level functions, classes, variables it uses, transitively) uses what ``rules``
  forbid. A name the notebook defines means the notebook's definition (a student's own
  ``scaled_dot_product_attention`` is fine; the one imported from ``dl4f.attention`` is not). Anywhere in the
  source, evasive code is a problem too: a forbidden thing imported or assigned under another name, subclassed,
  or reached dynamically (``getattr`` on a module with a computed or forbidden name, ``vars(module)``,
  ``module.__dict__``, ``__import__``, ``importlib``, ``eval``, ``exec``, assignment into a module). Honest code
  that uses ``keras.layers.LSTM`` or ``keras.layers.MultiHeadAttention`` outside the entries (other questions), or
  mentions a forbidden name inside another name (``CustomLSTM``, ``MyMultiHeadAttention``), a comment or a
  docstring, has no problem.
- ``lstm_source_problems(source, class_name)``: ``own_code_problems`` of the class with ``LSTM_RULES``.
- ``call_uses_scan(source)``: ``call`` (or what it calls: methods of the class, module-level functions)
  iterates with ``keras.ops.scan`` / ``jax.lax.scan`` (or the compiled ``fori_loop``/``while_loop``, or
  ``keras.layers.RNN``) and has no Python loop over the time steps.
- ``notebook_code(cells)``: the code cells joined, IPython magics and shell lines turned into ``pass``, cells
  that do not parse left out (they cannot run either).
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

LAYER_BASES = frozenset({"keras.layers.Layer", "keras.Layer", "keras.src.layers.Layer", "keras.src.layers.layer.Layer",
                         "keras.src.Layer"})
SCAN_FUNCTIONS = frozenset({"keras.ops.scan", "keras.src.ops.scan", "keras.src.ops.core.scan", "jax.lax.scan",
                            "keras.ops.fori_loop", "keras.ops.while_loop", "keras.src.ops.fori_loop",
                            "keras.src.ops.while_loop", "jax.lax.fori_loop", "jax.lax.while_loop",
                            "keras.layers.RNN", "keras.src.layers.RNN"})
DYNAMIC_CALLS = frozenset({"eval", "exec", "compile", "__import__"})
SCOPE_ESCAPES = frozenset({"globals", "locals", "vars"})
STAR_IMPORT_ROOTS = ("keras", "dl4f", "tensorflow", "torch")  # ``from <root>... import *`` is a problem
_SENSITIVE_ROOTS = ("dl4f", "tensorflow", "tf_keras", "torch", "flax")
_SAFE_DUNDERS = frozenset({"__version__", "__name__", "__doc__", "__file__"})
# Keras's ways to make a layer, a function or a model from its name or its configuration (a string hides the class)
DESERIALIZERS = frozenset({"deserialize", "deserialize_keras_object", "get_registered_object", "model_from_json",
                           "model_from_config", "model_from_yaml"})
_DESERIALIZER_ROOTS = ("keras", "tensorflow", "tf_keras")
_SETTINGS = ("pandas.options.", "matplotlib.rcParams", "matplotlib.pyplot.rcParams", "numpy.seterr")  # display settings


@dataclass(frozen=True)
class Rules:
    """What an exercise forbids in the student's own code.

    ``names``: ready-made layers or functions, refused wherever they appear as a part of a dotted name
    (``keras.layers.LSTM``, ``jax.nn.dot_product_attention``) or as a bare name the notebook does not define;
    ``name_prefixes``: the same for names starting so (``ConvLSTM1D``); ``modules``: dotted modules refused with
    everything in them (``dl4f.layers``); ``task``: what the student must do, said in the messages ("write the
    LSTM's equations yourself"); ``sensitive_modules``: modules, besides Keras's layers, ``keras.src``, dl4f and
    the other frameworks, whose attributes must be read by their names (no ``getattr`` with a computed name).
    """

    names: frozenset[str]
    modules: tuple[str, ...]
    task: str
    name_prefixes: tuple[str, ...] = ()
    sensitive_modules: tuple[str, ...] = ()
    source_wide: bool = True  # forbidden things renamed or subclassed anywhere in the notebook are problems too

    def __post_init__(self):
        if not self.task or not isinstance(self.task, str):
            raise ValueError("Rules.task must be a non-empty phrase, e.g. \"write the LSTM's equations yourself\"")
        if isinstance(self.modules, str) or isinstance(self.name_prefixes, str) or isinstance(self.names, str):
            raise ValueError("Rules.names, modules and name_prefixes are collections of strings, not one string")
        object.__setattr__(self, "names", frozenset(self.names))
        object.__setattr__(self, "modules", tuple(self.modules))
        object.__setattr__(self, "name_prefixes", tuple(self.name_prefixes))
        object.__setattr__(self, "sensitive_modules", tuple(self.sensitive_modules))

    @property
    def duty(self) -> str:
        """``task`` said of the code rather than to the student: "write the LSTM's equations itself"."""
        return self.task.removesuffix(" yourself") + " itself" if self.task.endswith(" yourself") else self.task

    def forbidden_name(self, name: str) -> bool:
        """``name`` (one identifier) is a forbidden layer or function."""
        return name in self.names or (bool(self.name_prefixes) and name.startswith(self.name_prefixes))

    def forbidden_qualified(self, qualified: str) -> bool:
        """A dotted name from an import: a forbidden name anywhere in it, or a forbidden module."""
        parts = qualified.split(".")
        return any(self.forbidden_name(p) for p in parts) or any(
            qualified == m or qualified.startswith(m + ".") for m in self.modules)

    def sensitive(self, qualified: str) -> bool:
        """Modules whose attributes must be read by name: keras, keras.layers, keras.src..., dl4f..., other
        frameworks, and ``sensitive_modules``."""
        root = qualified.split(".")[0]
        return (root in _SENSITIVE_ROOTS or qualified in ("keras", "keras.layers")
                or qualified.startswith(("keras.layers.", "keras.src"))
                or any(qualified == m or qualified.startswith(m + ".") for m in self.sensitive_modules))


LSTM_RULES = Rules(
    names=frozenset({"LSTM", "LSTMCell", "GRU", "GRUCell", "SimpleRNN", "SimpleRNNCell", "GateLSTM", "GateLSTMCell",
                     "CuDNNLSTM", "CuDNNGRU", "PeepholeLSTMCell", "StackedRNNCells"}),
    name_prefixes=("ConvLSTM",),
    modules=("dl4f.layers", "dl4f.models", "keras.src.layers.rnn", "keras.layers.rnn"),
    task="write the LSTM's equations yourself",
)
ATTENTION_RULES = Rules(
    names=frozenset({"MultiHeadAttention", "Attention", "AdditiveAttention", "GroupedQueryAttention",
                     "GroupQueryAttention", "MultiheadAttention", "dot_product_attention"}),
    modules=("dl4f.attention", "keras.src.layers.attention", "keras.layers.attention", "torch", "flax", "keras_hub",
             "keras_nlp", "transformers"),
    task="write the attention's equations with keras.ops yourself",
    sensitive_modules=("keras.ops", "jax"),
)


def _clean_line(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith(("%", "!")):
        return line[: len(line) - len(stripped)] + "pass"
    return line


def clean_cell(source: str) -> str:
    """A code cell's text with IPython magics and shell lines (``%...``, ``!...``) replaced by ``pass``."""
    return "\n".join(_clean_line(line) for line in source.splitlines())


def notebook_code(cells) -> str:
    """The code cells' sources (list of str) as one module; cells that do not parse are left out."""
    kept = []
    for cell in cells:
        text = clean_cell(str(cell))
        try:
            ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        kept.append(text)
    return "\n\n".join(kept)


# ----------------------------------------------------------------------------------------------------
# Module analysis


def _module_statements(body):
    """Module-level statements, looking inside if/try/with/for/while blocks (not inside def or class)."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)):
            yield from _module_statements(node.body)
            yield from _module_statements(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            yield from _module_statements(node.body)
            for handler in node.handlers:
                yield from _module_statements(handler.body)
            yield from _module_statements(node.orelse)
            yield from _module_statements(node.finalbody)


def _target_names(target):
    """Names a target binds, and the root name of an attribute or item it changes (``C.attr = ...`` -> C)."""
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Attribute, ast.Subscript)):
        while isinstance(target, (ast.Attribute, ast.Subscript)):
            target = target.value
        if isinstance(target, ast.Name):
            yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            yield from _target_names(elt)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


class _Module:
    """Imports (name -> dotted path), module-level definitions (name -> nodes), and name resolution."""

    def __init__(self, tree: ast.Module, rules: Rules):
        self.tree = tree
        self.rules = rules
        self.imports: dict[str, str] = {}
        self.star_imports: list[str] = []
        self.renamed: list[str] = []  # problems: forbidden things bound to another name
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imports[alias.asname] = alias.name
                        self._note_rename(alias.name, alias.asname)
                    else:
                        root = alias.name.split(".")[0]
                        self.imports[root] = root
            elif isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                for alias in node.names:
                    if alias.name == "*":
                        self.star_imports.append(module)
                        continue
                    full = f"{module}.{alias.name}"
                    self.imports[alias.asname or alias.name] = full
                    if alias.asname and alias.asname != alias.name:
                        self._note_rename(full, alias.asname)
        self.defs: dict[str, list[ast.AST]] = {}
        for node in _module_statements(tree.body):
            names = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [n for t in node.targets for n in _target_names(t)]
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                names = list(_target_names(node.target))
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                names = list(_target_names(node.target))
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                names = [n for item in node.items if item.optional_vars is not None
                         for n in _target_names(item.optional_vars)]
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and node.value.args:
                # setattr(C, ...), C.attr.update(...), C[...].append(...): statements that change C
                names = list(_target_names(node.value.args[0])) if (
                    isinstance(node.value.func, ast.Name) and node.value.func.id == "setattr") else \
                    list(_target_names(node.value.func.value)) if isinstance(node.value.func, ast.Attribute) else []
            for name in names:
                self.defs.setdefault(name, []).append(node)
        # Module-level aliases of imported things (``kl = keras.layers``, ``Cell = keras.layers.LSTMCell``).
        for _ in range(3):
            for node in _module_statements(tree.body):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    qualified = self.qualify(node.value)
                    name = node.targets[0].id
                    if qualified and name not in self.imports:
                        self.imports[name] = qualified
                        self._note_rename(qualified, name)

    def _note_rename(self, qualified: str, name: str) -> None:
        if self.rules.forbidden_qualified(qualified) and name != qualified.split(".")[-1]:
            message = f"{qualified} is bound to another name, {name}: {self.rules.task}"
            if message not in self.renamed:
                self.renamed.append(message)

    def qualify(self, node) -> str | None:
        """The dotted path of ``node`` (Name or Attribute chain) when its root is an import, else None."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.imports:
            return ".".join([self.imports[node.id], *reversed(parts)])
        return None

    def classes(self, name: str) -> list[ast.ClassDef]:
        return [n for n in _module_statements(self.tree.body) if isinstance(n, ast.ClassDef) and n.name == name]


def _dynamic_problems(mod: _Module, node, strict: bool, owner: str) -> list[str]:
    """Dynamic access in ``node``: always getattr/vars/__dict__ on modules, eval/exec/compile/__import__/importlib,
    ``globals()``/``locals()``/``vars()`` without argument, ``sys.modules``, Keras's deserializers (an object made
    from a string: ``keras.layers.deserialize``...), and assignments to attributes of imported modules and of what
    they hold; with ``strict`` (code an entry reaches) also getattr/hasattr/setattr with a computed name on any
    object. ``owner``: what is graded (``CustomLSTM``), named in the messages."""
    rules = mod.rules
    problems = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
            fname = sub.func.id
            if fname in DYNAMIC_CALLS and fname not in mod.defs:
                problems.append(f"{fname}(...) runs code built at run time: not allowed in the grading of {owner}")
            elif fname in ("getattr", "hasattr", "setattr", "delattr") and sub.args and fname not in mod.defs:
                target = mod.qualify(sub.args[0])
                name = sub.args[1] if len(sub.args) > 1 else None
                literal = isinstance(name, ast.Constant) and isinstance(name.value, str)
                what = repr(name.value) if literal else "a computed name"
                if target and (rules.sensitive(target) or fname in ("setattr", "delattr")) and (
                        fname in ("setattr", "delattr") or not literal or rules.forbidden_name(name.value)):
                    problems.append(f"{fname}({target}, {what}): use the module's attributes by their names, "
                                    "do not change them")
                elif strict and not literal:
                    problems.append(f"{fname}({ast.unparse(sub.args[0])[:40]}, {what}) in the code of {owner}: "
                                    "refer to attributes by their names")
            elif fname == "vars" and sub.args and mod.qualify(sub.args[0]) and rules.sensitive(mod.qualify(sub.args[0])):
                problems.append(f"vars({mod.qualify(sub.args[0])}): access the module's attributes by their names")
            elif fname in SCOPE_ESCAPES and not sub.args and fname not in mod.defs:
                problems.append(f"{fname}() looks names up at run time: refer to names directly")
            elif mod.imports.get(fname, "").split(".")[-1] in DESERIALIZERS:
                problems.append(f"{mod.imports[fname]} makes an object from its name: build it by its class")
        elif isinstance(sub, ast.Attribute):
            qualified = mod.qualify(sub)
            if qualified:
                root = qualified.split(".")[0]
                if root == "importlib":
                    problems.append("importlib: import modules with import statements")
                elif rules.sensitive(qualified) and any(p.startswith("__") and p not in _SAFE_DUNDERS
                                                        for p in qualified.split(".")[1:]):
                    problems.append(f"{qualified}: access the module's attributes by their names")
                elif qualified.startswith("sys.modules"):
                    problems.append("sys.modules: import modules with import statements")
                elif root in _DESERIALIZER_ROOTS and sub.attr in DESERIALIZERS:
                    problems.append(f"{qualified} makes an object from its name: build it by its class")
                elif isinstance(sub.ctx, (ast.Store, ast.Del)) and "." in qualified and not qualified.startswith(
                        _SETTINGS):
                    problems.append(f"assigns to {qualified}: a module of the course or of a library (or what it "
                                    "holds) must not be changed")
        elif isinstance(sub, ast.Name) and mod.imports.get(sub.id, "").split(".")[0] == "importlib":
            problems.append("importlib: import modules with import statements")  # import_module(...) imported
    if not strict and any(path.split(".")[0] == "importlib" for path in mod.imports.values()):
        problems.append("importlib: import modules with import statements")
    if not strict:
        problems += _restore_hooks(mod)
    return problems


# Code that runs when a pickled object is restored: the export restores the notebook's objects (cloudpickle) in a
# process of its own, and a crafted hook would run there before the export does.
RESTORE_HOOKS = frozenset({"__reduce__", "__reduce_ex__", "__setstate__", "__getnewargs__", "__getnewargs_ex__"})
RESTORE_MODULES = frozenset({"copyreg", "pickle", "marshal", "dill", "cloudpickle", "shelve"})


def _restore_hooks(mod: _Module) -> list[str]:
    """Pickling hooks defined anywhere in the notebook, and the modules that make or register them."""
    problems = []
    for sub in ast.walk(mod.tree):
        if isinstance(sub, ast.ClassDef):
            for item in sub.body:
                names = ([item.name] if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) else
                         [t.id for t in getattr(item, "targets", []) if isinstance(t, ast.Name)])
                for name in names:
                    if name in RESTORE_HOOKS:
                        problems.append(f"class {sub.name} defines {name}, code that runs at run time when the "
                                        "grader restores the object: not allowed")
        elif isinstance(sub, ast.Attribute) and sub.attr in RESTORE_HOOKS and isinstance(sub.ctx, ast.Store):
            problems.append(f"assigns {sub.attr}, code that runs at run time when the grader restores an object: "
                            "not allowed")
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value in RESTORE_HOOKS:
            problems.append(f"names {sub.value} in a string, code that runs at run time when the grader restores an "
                            "object: not allowed")
        elif (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "type"
              and len(sub.args) == 3 and "type" not in mod.defs):
            problems.append("type(name, bases, namespace) makes a class at run time: define it with a class statement")
    for path in mod.imports.values():
        if path.split(".")[0] in RESTORE_MODULES:
            problems.append(f"{path.split('.')[0]}: objects restored from bytes run code at run time: not allowed")
    return list(dict.fromkeys(problems))


def _stored_names(nodes) -> set[str]:
    """Names bound by ``nodes`` in their own scope (assignments, loop targets, imports, nested def/class names),
    nested functions and classes not entered; ``global``/``nonlocal`` names left out."""
    bound, declared = set(), set()
    todo = list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            todo.extend(node.decorator_list)
            continue
        elif isinstance(node, ast.Lambda):
            continue
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        todo.extend(ast.iter_child_nodes(node))
    return bound - declared


def _arg_names(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def _free_loads(node, bound=frozenset()):
    """The ``Name`` loads under ``node`` that refer to module-level (or builtin) names, Python's scoping rules
    approximated: function arguments and names a function binds are local; a class body's names are not
    visible to its methods."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            outer = [*getattr(child, "decorator_list", []), *child.args.defaults,
                     *[d for d in child.args.kw_defaults if d is not None]]
            for sub in outer:
                yield from _free_loads(ast.Expression(body=sub), bound)
            body = child.body if isinstance(child.body, list) else [ast.Expr(child.body)]
            local = set(bound) | _arg_names(child.args) | _stored_names(body)
            # the body as a module: a nested def among its statements is itself a scope (its arguments are local)
            yield from _free_loads(ast.Module(body=body, type_ignores=[]), frozenset(local))
        elif isinstance(child, ast.ClassDef):
            for sub in [*child.bases, *(k.value for k in child.keywords), *child.decorator_list]:
                yield from _free_loads(ast.Expression(body=sub), bound)
            class_scope = frozenset(set(bound) | _stored_names(
                [n for n in child.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]))
            for stmt in child.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield from _free_loads(ast.Module(body=[stmt], type_ignores=[]), bound)
                else:
                    yield from _free_loads(ast.Module(body=[stmt], type_ignores=[]), class_scope)
        elif isinstance(child, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            targets = {n.id for g in child.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
            yield from _free_loads(child, frozenset(set(bound) | targets))
        elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
            if child.id not in bound:
                yield child
        else:
            yield from _free_loads(child, bound)


def _reachable_problems(mod: _Module, start: list, owner: str) -> list[str]:
    """Forbidden things used by the ``start`` nodes or by any module-level definition they reach (transitively);
    a name the module defines or imports resolves to that definition or import, a bare forbidden name to itself."""
    rules = mod.rules
    problems, seen, todo = [], set(), list(start)
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        problems += _dynamic_problems(mod, node, strict=True, owner=owner)
        inner = set()  # attributes inside a longer chain (``torch.nn`` in ``torch.nn.functional``): the chain is told
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute):
                if isinstance(sub.value, ast.Attribute):
                    inner.add(id(sub.value))
                qualified = None if id(sub) in inner else mod.qualify(sub)
                if qualified and rules.forbidden_qualified(qualified):
                    problems.append(f"uses {qualified}")
        for sub in _free_loads(ast.Module(body=[node], type_ignores=[])):
            if sub.id in mod.imports:
                qualified = mod.imports[sub.id]
                if rules.forbidden_qualified(qualified):
                    renamed = sub.id != qualified.split(".")[-1]
                    problems.append(f"uses {qualified}" + (f" (as {sub.id})" if renamed else ""))
            elif sub.id in mod.defs:
                todo.extend(mod.defs[sub.id])
            elif rules.forbidden_name(sub.id):
                problems.append(f"uses {sub.id}")
    return problems


def _derives_from_layer(mod: _Module, cls: ast.ClassDef, seen=None) -> bool:
    seen = seen or set()
    if cls.name in seen:
        return False
    seen.add(cls.name)
    for base in cls.bases:
        qualified = mod.qualify(base)
        if qualified in LAYER_BASES:
            return True
        if isinstance(base, ast.Name) and base.id not in mod.imports:
            if any(_derives_from_layer(mod, c, seen) for c in mod.classes(base.id)):
                return True
    return False


@functools.lru_cache(maxsize=32)
def _parse(source: str) -> ast.Module:
    """``source`` (magics made ``pass``) parsed once per text: the judge checks one notebook for every question.
    The tree is shared by every caller: read it, never change it."""
    return ast.parse(clean_cell(source))


def _unique(items):
    return list(dict.fromkeys(items))


def _entry_definitions(mod: _Module, name: str, class_only: bool) -> list[ast.AST]:
    """The module-level ``def``/``class`` statements named ``name`` (only ``class`` with ``class_only``)."""
    kinds = ast.ClassDef if class_only else (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    found = []
    for n in _module_statements(mod.tree.body):
        if isinstance(n, kinds) and n.name == name:
            found.append(n)
        elif not class_only and isinstance(n, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in n.targets):
            found.append(n)  # a function made by an expression (``grad_fn = jax.jit(jax.grad(f))``)
    return found


def _source_wide_problems(mod: _Module, owner: str) -> list[str]:
    """Evasions anywhere in the module: forbidden things renamed or subclassed, star imports, dynamic access."""
    rules = mod.rules
    problems = list(mod.renamed) if rules.source_wide else []
    for node in ast.walk(mod.tree) if rules.source_wide else ():
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                qualified = mod.qualify(base)
                if (qualified and rules.forbidden_qualified(qualified)) or (
                        isinstance(base, ast.Name) and base.id not in mod.defs and rules.forbidden_name(base.id)):
                    problems.append(f"class {node.name} derives from {qualified or base.id}: {rules.task}")
    roots = tuple(dict.fromkeys([*STAR_IMPORT_ROOTS, *(m.split(".")[0] for m in rules.modules)]))
    for module in mod.star_imports:
        if module.split(".")[0] in roots:
            problems.append(f"from {module} import *: import the names you use")
    problems += _dynamic_problems(mod, mod.tree, strict=False, owner=owner)
    return problems


def own_code_problems(source: str, entries: list[str], rules: Rules, *,
                      layer_classes: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with the student's own code in ``source``; [] when nothing is.

    ``entries``: the functions and classes the student writes (``["scaled_dot_product_attention",
    "MyMultiHeadAttention"]``), each to be defined at the top level of the notebook; ``layer_classes``: those of
    them that are classes deriving from ``keras.layers.Layer``; ``rules``: what neither an entry nor anything it
    reaches may use (``LSTM_RULES``, ``ATTENTION_RULES``). The whole source is also searched for evasions (see the
    module docstring). Each message names the entry or the evasion, and what the student must do (``rules.task``).
    """
    if isinstance(entries, str) or not entries or not all(isinstance(e, str) and e.isidentifier() for e in entries):
        raise ValueError(f"entries must be a non-empty list of names (e.g. ['MyMultiHeadAttention']), got {entries!r}")
    if isinstance(layer_classes, str) or any(c not in entries for c in layer_classes):
        raise ValueError(f"layer_classes must be a tuple of names among the entries {entries!r}, got {layer_classes!r}")
    if not isinstance(rules, Rules):
        raise ValueError(f"rules must be a source_checks.Rules (e.g. LSTM_RULES), got {type(rules).__name__}")
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError) as exc:
        return [f"the code does not parse ({type(exc).__name__}: {exc})"]
    mod = _Module(tree, rules)
    problems = []
    for entry in _unique(entries):
        is_layer = entry in layer_classes
        definitions = _entry_definitions(mod, entry, class_only=is_layer)
        if not definitions:
            problems.append(f"{'class ' if is_layer else ''}{entry} is not defined at the top level of the notebook")
            continue
        last = definitions[-1]  # the definition that runs last
        if is_layer and not _derives_from_layer(mod, last):
            problems.append(f"{entry} must derive from keras.layers.Layer (class {entry}(keras.layers.Layer))")
        used = _reachable_problems(mod, [last, *mod.defs.get(entry, [])], owner=entry)  # it and what changes it
        if used:
            problems.append(f"{entry} must {rules.duty}, but it (or code it uses) " + "; ".join(_unique(used)))
    problems += _source_wide_problems(mod, owner=", ".join(_unique(entries)))
    return _unique(problems)


def lstm_source_problems(source: str, class_name: str = "CustomLSTM") -> list[str]:
    """What is wrong with ``class_name`` in ``source`` (see the module docstring); [] when nothing is."""
    return own_code_problems(source, [class_name], LSTM_RULES, layer_classes=(class_name,))


# ----------------------------------------------------------------------------------------------------
# call iterates with scan


def _constant_size(iterable, mod: _Module) -> bool:
    """An iterable of fixed, small size: a literal, range(<int>), self.<attr>, or zip/enumerate/items of such."""
    if isinstance(iterable, (ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Constant)):
        return True
    if isinstance(iterable, ast.Attribute) and isinstance(iterable.value, ast.Name) and iterable.value.id == "self":
        return True
    if isinstance(iterable, ast.Call):
        func = iterable.func
        if isinstance(func, ast.Name) and func.id == "range":
            return all(isinstance(a, ast.Constant) for a in iterable.args)
        if isinstance(func, ast.Name) and func.id in ("zip", "enumerate", "reversed", "sorted"):
            return all(_constant_size(a, mod) for a in iterable.args)
        if isinstance(func, ast.Attribute) and func.attr in ("items", "values", "keys"):
            return _constant_size(func.value, mod)
    return False


def _functions_from_call(mod: _Module, cls: ast.ClassDef) -> list:
    """``call`` and what it calls: methods through ``self.name(...)``, module-level functions by name."""
    methods = {n.name: n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if "call" not in methods:
        return []
    found, todo = [], [methods["call"]]
    while todo:
        fn = todo.pop()
        if fn in found:
            continue
        found.append(fn)
        for sub in ast.walk(fn):
            if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "self":
                if sub.attr in methods and sub.attr != "step":
                    todo.append(methods[sub.attr])
            elif isinstance(sub, ast.Name) and sub.id in mod.defs and sub.id not in mod.imports:
                todo.extend(n for n in mod.defs[sub.id] if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return found


def call_uses_scan(source: str, class_name: str = "CustomLSTM") -> bool:
    """True when ``class_name.call`` iterates with a compiled loop (scan) and no Python loop over time steps."""
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError):
        return False
    mod = _Module(tree, LSTM_RULES)
    classes = mod.classes(class_name)
    if not classes:
        return False
    functions = _functions_from_call(mod, classes[-1])
    if not functions:
        return False
    scan_bodies: set = set()  # functions handed to scan (nested, methods, lambdas): their loops run in one step
    uses_scan = False
    for fn in functions:
        for sub in ast.walk(fn):
            if isinstance(sub, ast.Call) and mod.qualify(sub.func) in SCAN_FUNCTIONS:
                uses_scan = True
                for arg in [*sub.args, *(k.value for k in sub.keywords)]:
                    if isinstance(arg, ast.Name):
                        scan_bodies.add(arg.id)
                    elif isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "self":
                        scan_bodies.add(arg.attr)
                    elif isinstance(arg, ast.Lambda):
                        scan_bodies.add(id(arg))
    if not uses_scan:
        return False

    def loops(node, inside_body: bool) -> bool:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                body = inside_body or getattr(child, "name", None) in scan_bodies or id(child) in scan_bodies
                if loops(child, body):
                    return True
                continue
            if not inside_body:
                if isinstance(child, ast.While):
                    return True
                if isinstance(child, (ast.For, ast.AsyncFor)) and not _constant_size(child.iter, mod):
                    return True
                if isinstance(child, ast.comprehension) and not _constant_size(child.iter, mod):
                    return True
            if loops(child, inside_body):
                return True
        return False

    return not any(loops(fn, fn.name in scan_bodies and fn.name != "call") for fn in functions)

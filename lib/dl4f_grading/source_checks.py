"""Question 4, trusted side: read the student's code as text (``ast``), never execute it.

- ``lstm_source_problems(source)``: ``CustomLSTM`` is defined, derives from a Keras ``Layer``, and neither it
  nor anything it reaches (module-level functions, classes, variables it uses, transitively) uses a ready-made
  recurrent layer or cell of Keras, dl4f or another framework (``LSTM``, ``LSTMCell``, ``GRU``, ``GRUCell``,
  ``SimpleRNN``, ``SimpleRNNCell``, ``ConvLSTM*``, ``GateLSTM``, ``GateLSTMCell``, the modules ``dl4f.layers``,
  ``dl4f.models``, ``keras.src.layers.rnn``). Anywhere in the source, evasive code is a problem too: such a
  layer imported or assigned under another name, subclassed, or reached dynamically (``getattr`` on a module
  with a computed or forbidden name, ``vars(module)``, ``module.__dict__``, ``__import__``, ``importlib``,
  ``eval``, ``exec``). Honest code that uses ``keras.layers.LSTM`` for Questions 1-3, or mentions "LSTM" in
  a name (``CustomLSTM``), a comment or a docstring, has no problem.
- ``call_uses_scan(source)``: ``call`` (or what it calls: methods of the class, module-level functions)
  iterates with ``keras.ops.scan`` / ``jax.lax.scan`` (or the compiled ``fori_loop``/``while_loop``, or
  ``keras.layers.RNN``) and has no Python loop over the time steps.
- ``notebook_code(cells)``: the code cells joined, IPython magics and shell lines turned into ``pass``, cells
  that do not parse left out (they cannot run either).
"""

from __future__ import annotations

import ast

FORBIDDEN_NAMES = frozenset({"LSTM", "LSTMCell", "GRU", "GRUCell", "SimpleRNN", "SimpleRNNCell", "GateLSTM",
                             "GateLSTMCell", "CuDNNLSTM", "CuDNNGRU", "PeepholeLSTMCell", "StackedRNNCells"})
FORBIDDEN_MODULES = ("dl4f.layers", "dl4f.models", "keras.src.layers.rnn", "keras.layers.rnn")
LAYER_BASES = frozenset({"keras.layers.Layer", "keras.Layer", "keras.src.layers.Layer", "keras.src.layers.layer.Layer",
                         "keras.src.Layer"})
SCAN_FUNCTIONS = frozenset({"keras.ops.scan", "keras.src.ops.scan", "keras.src.ops.core.scan", "jax.lax.scan",
                            "keras.ops.fori_loop", "keras.ops.while_loop", "keras.src.ops.fori_loop",
                            "keras.src.ops.while_loop", "jax.lax.fori_loop", "jax.lax.while_loop",
                            "keras.layers.RNN", "keras.src.layers.RNN"})
DYNAMIC_CALLS = frozenset({"eval", "exec", "compile", "__import__"})
SCOPE_ESCAPES = frozenset({"globals", "locals", "vars"})
_SAFE_DUNDERS = frozenset({"__version__", "__name__", "__doc__", "__file__"})


def _forbidden_name(name: str) -> bool:
    return name in FORBIDDEN_NAMES or name.startswith("ConvLSTM")


def _sensitive(qualified: str) -> bool:
    """Modules whose attributes must be read by name: keras, keras.layers, keras.src..., dl4f..., other frameworks."""
    root = qualified.split(".")[0]
    return (root in ("dl4f", "tensorflow", "tf_keras", "torch", "flax") or qualified in ("keras", "keras.layers")
            or qualified.startswith(("keras.layers.", "keras.src")))


def _forbidden_qualified(qualified: str) -> bool:
    """A dotted name from an import: a forbidden layer anywhere in it, or a forbidden module."""
    parts = qualified.split(".")
    return any(_forbidden_name(p) for p in parts) or any(
        qualified == m or qualified.startswith(m + ".") for m in FORBIDDEN_MODULES)


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

    def __init__(self, tree: ast.Module):
        self.tree = tree
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
        if _forbidden_qualified(qualified) and name != qualified.split(".")[-1]:
            message = f"{qualified} is bound to another name, {name}: write the LSTM's equations yourself"
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


def _dynamic_problems(mod: _Module, node, strict: bool) -> list[str]:
    """Dynamic access in ``node``: always getattr/vars/__dict__ on modules, eval/exec/__import__/importlib;
    with ``strict`` (code the class reaches) also globals()/locals()/vars() and sys.modules."""
    problems = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
            fname = sub.func.id
            if fname in DYNAMIC_CALLS and fname not in mod.defs:
                problems.append(f"{fname}(...) runs code built at run time: not allowed in the grading of CustomLSTM")
            elif fname in ("getattr", "hasattr", "setattr") and sub.args:
                target = mod.qualify(sub.args[0])
                name = sub.args[1] if len(sub.args) > 1 else None
                literal = isinstance(name, ast.Constant) and isinstance(name.value, str)
                if target and _sensitive(target) and (fname == "setattr" or not literal or _forbidden_name(name.value)):
                    what = repr(name.value) if literal else "a computed name"
                    problems.append(f"{fname}({target}, {what}): use the module's attributes by their names, "
                                    "do not change them")
            elif fname == "vars" and sub.args and mod.qualify(sub.args[0]) and _sensitive(mod.qualify(sub.args[0])):
                problems.append(f"vars({mod.qualify(sub.args[0])}): access the module's attributes by their names")
            elif strict and fname in SCOPE_ESCAPES and not sub.args and fname not in mod.defs:
                problems.append(f"CustomLSTM's code calls {fname}(): refer to names directly")
        elif isinstance(sub, ast.Attribute):
            qualified = mod.qualify(sub)
            if qualified:
                root = qualified.split(".")[0]
                if root == "importlib":
                    problems.append("importlib: import modules with import statements")
                elif _sensitive(qualified) and any(p.startswith("__") and p not in _SAFE_DUNDERS
                                                   for p in qualified.split(".")[1:]):
                    problems.append(f"{qualified}: access the module's attributes by their names")
                elif strict and qualified.startswith("sys.modules"):
                    problems.append("sys.modules: import modules with import statements")
                elif isinstance(sub.ctx, (ast.Store, ast.Del)) and _sensitive(qualified):
                    problems.append(f"assigns to {qualified}: a module of the course or of Keras must not be changed")
    if any(path.split(".")[0] == "importlib" for path in mod.imports.values()):
        problems.append("importlib: import modules with import statements")
    return problems


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
            body = child.body if isinstance(child.body, list) else [child.body]
            local = set(bound) | _arg_names(child.args) | _stored_names(body)
            for stmt in body:
                yield from _free_loads(stmt, frozenset(local))
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


def _reachable_problems(mod: _Module, start: list) -> list[str]:
    """Forbidden layers used by the ``start`` nodes or by any module-level definition they reach (transitively)."""
    problems, seen, todo = [], set(), list(start)
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        problems += _dynamic_problems(mod, node, strict=True)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute):
                qualified = mod.qualify(sub)
                if qualified and _forbidden_qualified(qualified):
                    problems.append(f"uses {qualified}")
        for sub in _free_loads(ast.Module(body=[node], type_ignores=[])):
            if sub.id in mod.imports:
                qualified = mod.imports[sub.id]
                if _forbidden_qualified(qualified):
                    renamed = sub.id != qualified.split(".")[-1]
                    problems.append(f"uses {qualified}" + (f" (as {sub.id})" if renamed else ""))
            elif sub.id in mod.defs:
                todo.extend(mod.defs[sub.id])
            elif _forbidden_name(sub.id):
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


def _parse(source: str) -> ast.Module:
    return ast.parse(clean_cell(source))


def _unique(items):
    return list(dict.fromkeys(items))


def lstm_source_problems(source: str, class_name: str = "CustomLSTM") -> list[str]:
    """What is wrong with ``class_name`` in ``source`` (see the module docstring); [] when nothing is."""
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError) as exc:
        return [f"the code does not parse ({type(exc).__name__}: {exc})"]
    mod = _Module(tree)
    problems = []
    classes = mod.classes(class_name)
    if not classes:
        problems.append(f"class {class_name} is not defined at the top level of the notebook")
    else:
        cls = classes[-1]  # the definition that runs last
        if not _derives_from_layer(mod, cls):
            problems.append(f"{class_name} must derive from keras.layers.Layer (class {class_name}(keras.layers.Layer))")
        used = _reachable_problems(mod, [cls, *mod.defs.get(class_name, [])])  # the class and what changes it
        if used:
            problems.append(f"{class_name} must write the LSTM's equations itself, but it (or code it uses) "
                            + "; ".join(_unique(used)))
    problems += mod.renamed
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                qualified = mod.qualify(base)
                if (qualified and _forbidden_qualified(qualified)) or (
                        isinstance(base, ast.Name) and base.id not in mod.defs and _forbidden_name(base.id)):
                    problems.append(f"class {node.name} derives from {qualified or base.id}: "
                                    "write the LSTM's equations yourself")
    for module in mod.star_imports:
        if module.split(".")[0] in ("keras", "dl4f", "tensorflow", "torch"):
            problems.append(f"from {module} import *: import the names you use")
    problems += _dynamic_problems(mod, tree, strict=False)
    return _unique(problems)


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
    mod = _Module(tree)
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

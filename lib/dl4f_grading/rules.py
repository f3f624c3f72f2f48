"""One rule set for every TP's "write it yourself" questions (trusted side): what an answer may use, where it must
be written, and what a run in the sandbox proved about it.

Every TP's judge decides its "own code" cells, visible tests included, with ``check_own_code``:

- the static reading of ``source_checks.own_code_problems`` with the question's ``Rules`` (a forbidden layer or
  function under any name, in the answer or anything it reaches), extended here by ``attributes`` (methods that
  must not be called: ``.fit``) and by ``required`` (what the answer must reach, read from names only: a string
  constant is not a name, so ``"loss"`` does not reach ``value_and_grad``);
- dynamic name resolution anywhere in the notebook (``getattr`` with a computed name in an answer, ``globals()``,
  ``vars()``, ``locals()``, ``importlib``, ``__import__``, ``eval``/``exec``/``compile``, Keras's deserializers,
  ``sys.modules``, assignments to attributes of course or library modules): the cell is not credited and the
  message says it needs the instructor's review (``NEEDS_REVIEW``, 0 points until then);
- placement (``placement_problems``): with the student's answers by grade id (``answers``), the graded definition
  must come from its question's answer cell; a later cell that redefines or patches it is refused;
- run-time facts, recorded by the sandbox's export as data and decided here: a layer's graph holds no forbidden
  ready-made layer (``sublayer_problems``). A JAX function is judged on its compiled program instead, run where no
  student code ran (``dl4f_grading.programs``): no callback into Python (SciPy) can hide in it.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from dl4f_grading import source_checks
from dl4f_grading.source_checks import Rules

NEEDS_REVIEW = "needs review by the instructor (0 points until reviewed)"
REFUSED = "not credited"
# Messages of source_checks that mark dynamic name resolution (review) rather than a forbidden use (refusal).
_DYNAMIC_MARKS = ("at run time", "a computed name", "by their names", "by its class", "import statements",
                  "must not be changed", "refer to names directly", "refer to attributes")


@dataclass(frozen=True)
class Question:
    """A question's "own code" rules: the graded ``entries`` (functions or classes, ``layer_classes`` among them),
    the ``rules`` they must obey, the methods they must not call (``attributes``), the names at least one of
    which they must reach (``required``: each a tuple of alternatives, with the phrase said when none is reached),
    and the ``answer`` cell (grade id) where they must be written."""

    entries: tuple[str, ...]
    rules: Rules
    answer: str
    layer_classes: tuple[str, ...] = ()
    attributes: frozenset[str] = frozenset()
    required: tuple[tuple[frozenset[str], str], ...] = ()


def _parse(source: str) -> ast.Module | None:
    try:
        return source_checks._parse(source)
    except (SyntaxError, ValueError):
        return None


@functools.lru_cache(maxsize=32)
def _module(source: str) -> source_checks._Module | None:
    """The imports and module-level definitions of ``source`` (None if it does not parse), read once per text."""
    tree = _parse(source)
    return None if tree is None else source_checks._Module(tree, source_checks.LSTM_RULES)


@functools.lru_cache(maxsize=64)
def reached(source: str, entry: str) -> tuple[set[str], set[str]] | None:
    """(names, attribute names) read by the module-level definition ``entry`` and, transitively, by the module-level
    definitions it uses; string constants are data, not names. None if ``entry`` is not defined."""
    mod = _module(source)
    if mod is None or entry not in mod.defs:
        return None
    names, attributes, seen, todo = set(), set(), set(), list(mod.defs[entry])
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute):
                attributes.add(sub.attr)
        for sub in source_checks._free_loads(ast.Module(body=[node], type_ignores=[])):
            names.add(sub.id)
            if sub.id in mod.imports:
                names.update(mod.imports[sub.id].split("."))
            elif sub.id in mod.defs:
                todo.extend(mod.defs[sub.id])
    return names, attributes


def _attribute_problems(source: str, entry: str, attributes: frozenset[str]) -> list[str]:
    found = reached(source, entry)
    if found is None or not attributes:
        return []
    used = sorted(found[1] & attributes)
    return [f"{entry} (or code it uses) calls .{name}" for name in used]


def placement_problems(source: str, answers: dict[str, str] | None, entries: Iterable[str], answer: str) -> list[str]:
    """Where ``entries`` are written: each must be defined in the answer cell ``answer`` (``answers``: grade id ->
    the student's source), and no later statement of the notebook may redefine or change it. [] when ``answers``
    is None (not known) or the placement is right."""
    if answers is None:
        return []
    cell, whole = _module(answers.get(answer, "") or ""), _module(source)
    if cell is None or whole is None:
        return [f"the answer cell {answer} does not parse"] if whole is not None else []
    in_cell, everywhere = cell.defs, whole.defs
    problems = []
    for entry in entries:
        own = {ast.dump(n) for n in in_cell.get(entry, [])}
        if not own:
            problems.append(f"{entry} is not defined in its answer cell ({answer}): answers count only where the "
                            "question puts them")
            continue
        statements = sorted(everywhere.get(entry, []), key=lambda n: (n.lineno, n.col_offset))
        last_own = max((k for k, n in enumerate(statements) if ast.dump(n) in own), default=-1)
        later = [n for n in statements[last_own + 1:] if ast.dump(n) not in own]
        if later:
            problems.append(f"{entry} is redefined or changed after its answer cell ({answer}), by `"
                            f"{ast.unparse(later[0]).splitlines()[0][:80]}`: the graded definition must be the one "
                            "in the answer cell")
    return problems


def own_code_problems(source: str, question: Question, answers: dict[str, str] | None = None) -> tuple[list, list]:
    """(refusals, reviews): what is wrong with ``question``'s answer in ``source`` ([] and [] when nothing is)."""
    return _problems(source, question, tuple(sorted((answers or {}).items())) if answers is not None else None)


@functools.lru_cache(maxsize=64)
def _problems(source: str, question: Question, answers: tuple | None) -> tuple[list, list]:
    answers = dict(answers) if answers is not None else None
    found = source_checks.own_code_problems(source, list(question.entries), question.rules,
                                            layer_classes=question.layer_classes)
    mod = _module(source)
    if mod is not None:  # an entry bound nowhere: its artifacts are missing and say so; one imported is refused
        unbound = [e for e in question.entries if e not in mod.defs and e not in mod.imports]
        found = [p for p in found if not any(p.startswith((f"{e} is not defined", f"class {e} is not defined"))
                                             for e in unbound)]
    for entry in question.entries:
        found += _attribute_problems(source, entry, question.attributes)
        names = reached(source, entry)
        for alternatives, phrase in question.required:
            if names is not None and not (names[0] | names[1]) & alternatives:
                found.append(f"{entry} must {phrase}")
    found += placement_problems(source, answers, question.entries, question.answer)
    found = list(dict.fromkeys(found))
    reviews = [p for p in found if any(mark in p for mark in _DYNAMIC_MARKS)]
    return [p for p in found if p not in reviews], reviews


def check_own_code(source: str, question: Question, answers: dict[str, str] | None = None) -> None:
    """Raise ``AssertionError`` saying what is refused, or what the instructor must review; None when all is fine."""
    refusals, reviews = own_code_problems(source, question, answers)
    if refusals:
        raise AssertionError(f"{REFUSED}: " + "; ".join(refusals + reviews)[:700])
    if reviews:
        raise AssertionError(f"{NEEDS_REVIEW}: the notebook resolves names at run time, which the grader cannot "
                             "read: " + "; ".join(reviews)[:600])


# ----------------------------------------------------------------------------------------------------
# Run-time facts recorded by the export


def sublayer_problems(classes: Iterable[str], forbidden: Iterable[str], what: str) -> list[str]:
    """The sub-layers of a layer (``module.ClassName``, as recorded by the export) whose class is forbidden."""
    forbidden = set(forbidden)
    bad = sorted({c for c in classes if str(c).rsplit(".", 1)[-1] in forbidden and str(c).startswith("keras")})
    return [f"{what} holds a ready-made {', '.join(bad)} layer: compute it yourself"] if bad else []


# ----------------------------------------------------------------------------------------------------
# A TP's checks, each cell judged with its question's rules


def question_of(gid: str, questions: dict[str, Question]) -> Question | None:
    """The question of a graded cell: ``questions`` by grade id, else by the id's prefix (``q2`` for ``q2_r2``)."""
    return questions.get(gid) or questions.get(gid.split("_")[0])


def guarded(checks: dict, questions: dict[str, Question]) -> dict:
    """``checks`` (grade id -> check of a context with ``source`` and ``answers``), each preceded by its
    question's rules (``check_own_code``): a cell whose answer breaks them earns nothing, whatever its artifacts."""
    def wrap(gid, check):
        question = question_of(gid, questions)
        if question is None:
            return check

        def guarded_check(ctx):
            check_own_code(ctx.source, question, getattr(ctx, "answers", None))
            return check(ctx)
        guarded_check.__name__ = getattr(check, "__name__", gid)
        return guarded_check
    return {gid: wrap(gid, check) for gid, check in checks.items()}

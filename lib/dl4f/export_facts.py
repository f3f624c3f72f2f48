"""Run-time facts about a student's objects, recorded by the TPs' exports (in the sandbox) as data for the grader.

- ``sublayer_classes(layer)``: ``module.ClassName`` of every layer a Keras layer or model holds, recursively; the
  grader refuses a ready-made layer where the question asks for one's own.

Nothing here decides a grade: the grader (``dl4f_grading.rules``) reads these lists.
"""

from __future__ import annotations


def sublayer_classes(layer) -> list[str]:
    """``module.ClassName`` of each layer inside ``layer`` (not ``layer`` itself), recursively."""
    inner = layer._flatten_layers(include_self=False, recursive=True)
    return sorted({f"{type(x).__module__}.{type(x).__name__}" for x in inner})


def notebook_function(namespace: dict, like, target):
    """``lambda mu, cov: target(mu, cov)`` made a function of the notebook's module: its globals are the notebook's,
    its file and line those of ``like`` (a notebook function), its name ``<lambda>``, so that the student's code
    calls the grader's probe by the same path as its own strategies and cannot tell them apart."""
    import types

    def make(strategy):
        return lambda mu, cov: strategy(mu, cov)

    template = make(target)
    source = getattr(like, "__code__", template.__code__)
    code = template.__code__.replace(co_filename=source.co_filename, co_firstlineno=source.co_firstlineno,
                                     co_name="<lambda>", co_qualname="<lambda>")
    fn = types.FunctionType(code, namespace, "<lambda>", None, template.__closure__)
    fn.__qualname__ = "<lambda>"
    fn.__module__ = namespace.get("__name__", "__main__")
    return fn

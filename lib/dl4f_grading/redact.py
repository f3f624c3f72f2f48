"""Feedback that teaches, not leaks: a check's message without the grader's secret inputs.

``redact(message, secrets)`` is applied by the judge (``dl4f_grading.judge``) to every verdict it writes, with the
secrets it drew for the attempt: every date, every list of numbers, and every number equal to a value of the
secrets becomes ``<secret>``, so that a resubmission cannot be tailored to them.
"""

from __future__ import annotations

import math
import re

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.]*\d)")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\b")
_LIST = re.compile(r"\[\s*-?\d[^\[\]]*\]")
_EXPECTED = re.compile(r"(?:\b(?:expected|optimum is|should be|reference is|the grader's is):?\s+(?P<n>-?\d[\d.eE+-]*)"
                       r"|(?P<n2>-?\d[\d.eE+-]*)\s+expected\b)")
MAX_SECRET_ARRAY = 64  # arrays of the secrets up to this size hold scalars a message could print
# numbers that are never the grader's: an error number, a line, a cell, a question (kept as printed)
_NOT_SECRET = re.compile(r"\b(?:Errno|errno|line|cell|Cell|Question|question|exit code|status)\s+-?\d+\b")


def _secret_scalars(secrets) -> tuple[set[int], set[float], set[str]]:
    import numpy as np

    ints, floats, texts = set(), set(), set()

    def visit(value, key):
        if isinstance(value, dict):
            for k, v in value.items():
                visit(v, str(k))
        elif isinstance(value, (list, tuple)):
            for v in value[:MAX_SECRET_ARRAY * 4]:
                visit(v, key)
        elif isinstance(value, np.ndarray):
            if value.ndim == 1 and value.size >= 2:  # a secret vector's length is a secret size (assets, units)
                ints.add(int(value.size))
            if value.size <= MAX_SECRET_ARRAY:
                for v in value.reshape(-1).tolist():
                    visit(v, key)
        elif isinstance(value, (bool, np.bool_)):
            return
        elif isinstance(value, (int, np.integer)):
            ints.add(int(value))
        elif isinstance(value, (float, np.floating)) and math.isfinite(float(value)):
            f = float(value)
            if f.is_integer():
                ints.add(int(f))
            else:
                floats.add(f)
            if "log" in key and abs(f) < 30:  # a secret given by its logarithm (learning rates): its value too
                floats.add(10.0 ** f)
        elif isinstance(value, (str, np.str_, np.datetime64)):
            texts.add(str(value)[:10] if isinstance(value, np.datetime64) else str(value))
        elif hasattr(value, "isoformat"):
            texts.add(value.isoformat()[:10])
    visit(secrets, "")
    return ints, floats, texts


def redact(message: str, secrets) -> str:
    """``message`` without the secret inputs: every date, every list of numbers, and every number equal to a
    value of the secrets (integers from 2 up; floats at the precision printed) becomes ``<secret>``."""
    ints, floats, texts = _secret_scalars(secrets)
    out = _DATE.sub("<secret date>", message)
    out = _LIST.sub("[<secret values>]", out)
    out = _EXPECTED.sub(lambda m: m.group(0).replace(m.group("n") or m.group("n2"), "<secret>"), out)  # the grader's
    # secret words: dates, tickers (a secret choice of assets); not the lowercase names of code (activations)
    for text in sorted((t for t in texts if len(t) >= 2 and (t.isupper() or any(c.isdigit() for c in t))),
                       key=len, reverse=True):
        out = re.sub(rf"(?<![\w.^]){re.escape(text)}(?!\w)", "<secret>", out)

    def number(match: re.Match) -> str:
        token = match.group(0)
        value = float(token)
        if value.is_integer() and "." not in token and "e" not in token.lower():
            return "<secret>" if abs(int(value)) >= 2 and int(value) in ints else token
        # a secret rounded to the printed precision (3 significant digits at least: "below 0.15" stays), or equal
        half_ulp = 0.5 * 10.0 ** _exponent(token) if _significant(token) >= 3 else 0.0
        return "<secret>" if any(abs(value - f) <= max(half_ulp * 1.0001, 1e-12 * abs(f)) for f in floats) else token

    kept = _NOT_SECRET.findall(out)
    out = _NOT_SECRET.sub("\x00", out)
    out = _NUMBER.sub(number, out)
    for text in kept:
        out = out.replace("\x00", text, 1)
    return out


def _significant(token: str) -> int:
    return len(token.lower().partition("e")[0].replace("-", "").replace(".", "").lstrip("0"))


def _exponent(token: str) -> int:
    """The place of the last printed digit of ``token`` (``0.0312`` -> -4, ``3.1e-05`` -> -6)."""
    mantissa, _, exp = token.lower().partition("e")
    digits = mantissa.partition(".")[2]
    return (int(exp) if exp else 0) - len(digits)

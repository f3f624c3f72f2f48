"""Deciding the graded cells of a TP: the loop every TP's ``judge`` runs.

Each TP module maps every graded cell to a check (``CELLS``): a function of the TP's context that returns a
message for the student, or raises ``AssertionError`` with the reason. ``decide`` runs them and never raises:
a malformed artifact fails its cell with the reason, a failure of the grader itself fails every cell with it.
"""

from __future__ import annotations

from collections.abc import Callable


def decide(checks: dict[str, Callable], make_context: Callable, cells: list[str]) -> dict[str, dict]:
    """``{grade_id: {"passed": bool, "message": str}}`` for every cell in ``cells``."""
    try:
        ctx = make_context()
    except Exception as exc:  # noqa: BLE001  (the grader's own data: reported on every cell)
        return {gid: {"passed": False, "message": f"grader error: {type(exc).__name__}: {str(exc)[:300]}"}
                for gid in cells}
    results = {}
    for gid in cells:
        check = checks.get(gid)
        if check is None:
            results[gid] = {"passed": False, "message": f"no check is defined for cell {gid} (grader error)"}
            continue
        try:
            results[gid] = {"passed": True, "message": check(ctx)}
        except AssertionError as exc:
            results[gid] = {"passed": False, "message": str(exc) or "check failed"}
        except Exception as exc:  # noqa: BLE001  (malformed artifacts: reported, never a crash)
            results[gid] = {"passed": False, "message": f"could not be checked: {type(exc).__name__}: {str(exc)[:300]}"}
    return results


def prepared(secrets: dict | None, regenerate: Callable[[int], dict], seed: int) -> dict:
    """The grader's secrets of ``seed``: ``secrets`` when the waiting judge drew them while the notebook ran
    (``judge.main``), else ``regenerate(seed)`` now."""
    return secrets if secrets is not None else regenerate(seed)

"""Helpers of the course website (``_quarto.yml``, ``chapters/``): a notebook shown as a page.

``notebook_markdown`` turns a student notebook into Markdown that a Quarto page prints with
``#| output: asis``: markdown cells as they are (headings one level down, under the page title; relative
links and images rewritten for the page's folder), code cells as Python code blocks, raw cells (front
matter) and cells tagged ``remove-cell`` (which Quarto leaves out of a rendered notebook too: the
placeholders of hidden tests) left out. Outputs are never shown: the page is the assignment as the
student receives it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat

_HEADING = re.compile(r"^(#{1,5})(\s)")
_FENCE = re.compile(r"^\s*(```|~~~)")
# [text](target) and ![alt](target): the target up to a space (a title may follow) or the closing parenthesis
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)")


def _is_relative(target: str) -> bool:
    return not re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target, flags=re.IGNORECASE)


def _rewrite_links(line: str, source_dir: Path, page_dir: Path) -> str:
    def fix(match):
        target = match.group(2)
        if not _is_relative(target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        new = Path(os.path.relpath(source_dir / path, page_dir)).as_posix()
        return match.group(1) + new + (f"#{anchor}" if anchor else "")

    return _LINK.sub(fix, line)


def _markdown_cell(text: str, drop_first_h1: bool, source_dir: Path, page_dir: Path) -> tuple[str, bool]:
    """Headings one level down outside code fences, links rebased; optionally drop the first ``# title``."""
    out, in_fence, dropped = [], False, False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            if drop_first_h1 and not dropped and re.match(r"^#\s", line):
                dropped = True
                continue
            line = _HEADING.sub(lambda m: "#" + m.group(1) + m.group(2), line)
            line = _rewrite_links(line, source_dir, page_dir)
        out.append(line)
    return "\n".join(out), dropped


def _fence_for(source: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", source)), default=0)
    return "`" * max(3, longest + 1)


def notebook_markdown(path, *, page_dir=None, drop_title: bool = True) -> str:
    """The cells of the notebook at ``path`` as one Markdown document (see the module docstring).

    ``page_dir`` is the folder of the page that prints it (default: the current directory, which is the
    page's folder when Quarto executes it); relative links of the notebook are rewritten to resolve from there.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: build the student notebook first (see README)")
    source_dir = path.resolve().parent
    page_dir = Path(page_dir or Path.cwd()).resolve()
    nb = nbformat.read(path, as_version=4)
    parts, title_dropped = [], not drop_title
    for cell in nb.cells:
        source = cell.source.rstrip()
        if not source or cell.cell_type == "raw" or "remove-cell" in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "markdown":
            text, dropped = _markdown_cell(source, not title_dropped, source_dir, page_dir)
            title_dropped = title_dropped or dropped
            if text.strip():
                parts.append(text)
        elif cell.cell_type == "code":
            fence = _fence_for(source)
            parts.append(f"{fence}python\n{source}\n{fence}")
    return "\n\n".join(parts) + "\n"

"""dl4f.site: a student notebook turned into the Markdown of its TP page."""

import nbformat
import pytest

from dl4f.site import notebook_markdown


def _notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_raw_cell("---\ntitle: TP\n---"),
        nbformat.v4.new_markdown_cell("# TP: the title\n\nIntro with ![a figure](img/fig.png) and [a link](https://x.org)."),
        nbformat.v4.new_markdown_cell("## 1. Data\n\n```python\n# a comment, not a heading\n```"),
        nbformat.v4.new_code_cell("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"),
        nbformat.v4.new_code_cell("s = '```'", outputs=[nbformat.v4.new_output("stream", text="secret output")]),
        nbformat.v4.new_code_cell("   "),
        nbformat.v4.new_code_cell("# Hidden test: placeholder", metadata={"tags": ["remove-cell"]}),
    ]
    folder = tmp_path / "exercises" / "tp"
    folder.mkdir(parents=True)
    path = folder / "tp.ipynb"
    nbformat.write(nb, path)
    return path


def test_notebook_markdown_shows_cells_as_the_student_gets_them(tmp_path):
    path = _notebook(tmp_path)
    page_dir = tmp_path / "chapters" / "rnn"
    page_dir.mkdir(parents=True)
    md = notebook_markdown(path, page_dir=page_dir)
    assert "title: TP" not in md  # raw front matter left out
    assert "# TP: the title" not in md  # the page has its own title
    assert "### 1. Data" in md  # headings one level down
    assert "# a comment, not a heading" in md  # code inside markdown fences untouched
    assert "![a figure](../../exercises/tp/img/fig.png)" in md  # relative image rebased on the page
    assert "[a link](https://x.org)" in md
    assert "```python\ndef f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n```" in md
    assert "````python\ns = '```'\n````" in md  # a longer fence around code holding backticks
    assert "secret output" not in md  # outputs are never shown
    assert "Hidden test" not in md  # cells tagged remove-cell are left out, as Quarto does


def test_notebook_markdown_missing_notebook_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="build the student notebook"):
        notebook_markdown(tmp_path / "nope.ipynb")

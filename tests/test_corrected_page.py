"""The corrected TP page: the executed copy gets a Quarto title, once, keeps no duplicate heading, and leaves out
the instructions to the student (cells tagged ``students-only`` in the source notebook)."""

import nbformat
import pytest

from dl4f import assignments


def test_add_page_title_is_idempotent():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# TP: Something\n\nIntro text."),
        nbformat.v4.new_code_cell("x = 1"),
    ])
    assignments.add_page_title(nb, 'TP Corrected: "Something"')
    assignments.add_page_title(nb, 'TP Corrected: "Something"')
    assert [c.cell_type for c in nb.cells] == ["raw", "markdown", "code"]
    assert nb.cells[0].source == '---\ntitle: "TP Corrected: \\"Something\\""\n---'
    assert nb.cells[1].source == "Intro text."


def test_committed_corrected_page_has_its_title():
    nb = nbformat.read(assignments.ROOT / assignments.CORRECTED["tp-rnn"], as_version=4)
    assert nb.cells[0].cell_type == "raw"
    assert nb.cells[0].source.splitlines()[1] == f'title: "{assignments.CORRECTED_TITLES["tp-rnn"]}"'


# What the corrected page must not show: the instructions to the student who solves the TP.
INSTRUCTIONS = ("YOUR CODE HERE", "NotImplementedError", "before you submit", "dl4f tp check")


def _instructions_in_markdown(cells):
    return [(k, phrase) for k, cell in enumerate(cells) if cell.cell_type == "markdown"
            for phrase in INSTRUCTIONS if phrase.lower() in cell.source.lower()]


def test_drop_students_only_removes_the_tagged_cells_and_refuses_graded_ones():
    tag = {"tags": [assignments.STUDENTS_ONLY]}
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# TP\n\n- Write your code in the cells that say `YOUR CODE HERE`.", metadata=tag),
        nbformat.v4.new_markdown_cell("## Question 1\n\nForecast tomorrow's |r|."),
        nbformat.v4.new_code_cell("x = 1"),
    ])
    assert assignments.drop_students_only(nb) == 1
    assert [c.source for c in nb.cells] == ["## Question 1\n\nForecast tomorrow's |r|.", "x = 1"]
    assert assignments.drop_students_only(nb) == 0
    graded = {"tags": [assignments.STUDENTS_ONLY], "nbgrader": {"grade": True, "grade_id": "q1", "solution": False}}
    nb.cells.append(nbformat.v4.new_code_cell("assert x == 1", metadata=graded))
    with pytest.raises(ValueError, match=r"cell 2 \(q1\) is graded or holds a solution"):
        assignments.drop_students_only(nb)


def test_execute_builds_the_corrected_page_without_the_instructions(tmp_path):
    """`dl4f tp execute` on a small source notebook: instructions out, tasks and solutions in, a titled draft."""
    source = tmp_path / "tp.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(
            "# TP: Something\n\n*30 points.*\n\n- Write your code in the cells that say `YOUR CODE HERE` (remove the "
            "`raise NotImplementedError()`).\n- Before you submit: run `dl4f tp check tp.ipynb`.",
            metadata={"tags": [assignments.STUDENTS_ONLY]}),
        nbformat.v4.new_markdown_cell("## Question 1\n\nWrite `double(x)`, which returns twice `x`."),
        nbformat.v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
                                  "print(double(21))"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}), source)
    out = assignments.execute(source, tmp_path / "page" / "tp-corrected.ipynb", timeout=120, title="TP Corrected: Something")
    nb = nbformat.read(out, as_version=4)
    assert not _instructions_in_markdown(nb.cells)
    assert nb.cells[0].cell_type == "raw" and 'title: "TP Corrected: Something"' in nb.cells[0].source
    assert "draft: true" in nb.cells[0].source
    assert nb.cells[1].source == "## Question 1\n\nWrite `double(x)`, which returns twice `x`."  # the task stays
    assert nb.cells[2].source == "def double(x):\n    return 2 * x\nprint(double(21))"  # the solution, unmarked
    assert nb.cells[2].outputs[0]["text"] == "42\n"


@pytest.mark.parametrize("tp", sorted(assignments.CORRECTED))
def test_source_notebooks_tag_their_instructions_for_the_corrected_page(tp):
    """Every markdown cell of a source notebook that tells the student how to work (where to write, how to check and
    submit) carries the ``students-only`` tag, so that `dl4f tp execute` leaves it out; the task cells do not."""
    source = nbformat.read(assignments.ROOT / "solutions" / tp / f"{tp}.ipynb", as_version=4)
    untagged = [c for c in source.cells if assignments.STUDENTS_ONLY not in c.metadata.get("tags", [])]
    assert not _instructions_in_markdown(untagged), f"{tp}: instructions in untagged cells"
    assert len(untagged) >= len(source.cells) - 2, f"{tp}: more than the instruction cells are tagged"
    assert any(c.source.startswith("## Question 1") for c in untagged)


@pytest.mark.parametrize("tp", sorted(assignments.CORRECTED))
def test_committed_corrected_pages_show_no_instructions(tp):
    """The committed corrected page was built by `dl4f tp execute` from the tagged source: no instruction shows."""
    nb = nbformat.read(assignments.ROOT / assignments.CORRECTED[tp], as_version=4)
    found = _instructions_in_markdown(nb.cells)
    assert not found, f"{assignments.CORRECTED[tp]}: students' instructions (cell, phrase) {found}: `dl4f tp execute {tp}`"

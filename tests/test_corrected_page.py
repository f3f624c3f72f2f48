"""The corrected TP page: the executed copy gets a Quarto title, once, and keeps no duplicate heading."""

import nbformat

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

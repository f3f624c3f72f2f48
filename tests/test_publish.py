"""Corrected TP pages are Quarto drafts until the instructor publishes them (``dl4f.publish``).

The round trips run on a temporary copy of the committed corrected notebook: only the front-matter line
``draft: true`` may change, every other cell, output and byte stays as it was.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest
import yaml

from dl4f import publish
from dl4f.assignments import CORRECTED, CORRECTED_TITLES, ROOT


@pytest.fixture
def corrected(tmp_path):
    """A copy of the committed corrected page, under the same relative path in a temporary course root."""
    target = tmp_path / CORRECTED["tp-rnn"]
    target.parent.mkdir(parents=True)
    shutil.copyfile(ROOT / CORRECTED["tp-rnn"], target)
    return target


def cells_without_front_matter(path):
    nb = nbformat.read(path, as_version=4)
    return nb.metadata, nb.cells[1:]


def test_draft_round_trip_changes_only_the_draft_line(corrected):
    publish.set_draft(corrected, False)  # whatever the committed state, start from a published page
    published = corrected.read_bytes()
    metadata, cells = cells_without_front_matter(corrected)
    assert not publish.is_draft(corrected)

    assert publish.set_draft(corrected, True) is True
    assert publish.is_draft(corrected)
    front = nbformat.read(corrected, as_version=4).cells[0]
    title = f'title: "{CORRECTED_TITLES["tp-rnn"]}"'
    assert front.source.splitlines() == ["---", title, "draft: true", "---"]  # the title stays on line 2
    assert cells_without_front_matter(corrected) == (metadata, cells)  # every other cell and output identical
    assert sum(len(c.get("outputs", [])) for c in cells) > 10

    assert publish.set_draft(corrected, True) is False  # already a draft: file untouched
    assert publish.set_draft(corrected, False) is True
    assert corrected.read_bytes() == published
    assert publish.set_draft(corrected, False) is False


def test_publish_and_unpublish_the_corrected_page(corrected, tmp_path):
    assert publish.unpublish("tp-rnn", root=tmp_path) == corrected
    assert publish.is_draft(corrected)
    assert publish.publish("tp-rnn", root=tmp_path) == corrected
    assert not publish.is_draft(corrected)
    with pytest.raises(ValueError, match=r"no corrected page for 'tp-cnn'; the TPs with one are \[.*'tp-rnn'.*\]"):
        publish.publish("tp-cnn", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="dl4f tp execute tp-rnn"):
        publish.unpublish("tp-rnn", root=tmp_path / "empty")


def test_a_notebook_without_front_matter_gets_one_and_loses_it_again(tmp_path):
    path = tmp_path / "page.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A page")]), path)
    before = path.read_bytes()
    assert publish.set_draft(path, False) is False
    assert publish.set_draft(path, True) is True
    assert [c.cell_type for c in nbformat.read(path, as_version=4).cells] == ["raw", "markdown"]
    assert publish.is_draft(path)
    assert publish.set_draft(path, False) is True
    assert path.read_bytes() == before


def test_is_draft_reads_qmd_front_matter_and_set_draft_refuses_it(tmp_path):
    page = tmp_path / "page.qmd"
    page.write_text('---\ntitle: "A page"\ndraft: true\n---\n\nText.\n')
    assert publish.is_draft(page)
    page.write_text('---\ntitle: "A page"\ndraft: false\n---\n\ndraft: true\n')  # only the front matter counts
    assert not publish.is_draft(page)
    with pytest.raises(ValueError, match="edit a .qmd page's front matter by hand"):
        publish.set_draft(page, True)
    with pytest.raises(FileNotFoundError):
        publish.is_draft(tmp_path / "nope.qmd")


def test_front_matter_without_closing_line_is_an_error(tmp_path):
    path = tmp_path / "page.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_raw_cell("---\ntitle: x")]), path)
    with pytest.raises(ValueError, match="no closing '---' line"):
        publish.set_draft(path, True)


def test_site_renders_drafts_empty_and_unlinked():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    assert config["website"].get("draft-mode") == "gone", "a draft corrected page must be empty, not just unlinked"

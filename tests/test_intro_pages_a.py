"""The first half of the Introduction module: its pages are rendered, listed in the sidebar in order, titled.

Checks ``_quarto.yml`` (parsed with yaml) and each page's front matter; the pages' execution is checked by
``tests/test_site.py``.
"""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SECTION = "Introduction to Deep Learning"
OVERVIEW = "chapters/intro/index.qmd"
PAGES = {
    "chapters/intro/traditional-models.qmd": "From Traditional Models to Deep Learning",
    "chapters/intro/mlp.qmd": "The Multi-Layer Perceptron (MLP)",
    "chapters/intro/autodiff.qmd": "Automatic Differentiation",
    "chapters/intro/backends.qmd": "Computation Backends & Keras 3",
}
# the module's ten chapters, as the overview page must link them (relative to chapters/intro/)
MODULE_FILES = ["index.qmd", "traditional-models.qmd", "mlp.qmd", "autodiff.qmd", "backends.qmd", "gpus.qmd",
                "keras-fundamentals.qmd", "keras-ops.qmd", "activations.qmd", "training-fundamentals.qmd"]


def config() -> dict:
    return yaml.safe_load((ROOT / "_quarto.yml").read_text())


def section_hrefs() -> list[str]:
    sections = [i for i in config()["website"]["sidebar"]["contents"] if isinstance(i, dict) and i.get("section") == SECTION]
    assert len(sections) == 1, f"the sidebar must have one section {SECTION!r}"
    return [i if isinstance(i, str) else i.get("href") for i in sections[0]["contents"]]


def front_matter(path: Path) -> dict:
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", path.read_text(), flags=re.DOTALL)
    assert match, f"{path} has no YAML front matter"
    return yaml.safe_load(match.group(1))


def test_overview_first_then_these_pages_in_order():
    hrefs = section_hrefs()
    assert hrefs[0] == OVERVIEW
    assert hrefs[1 : 1 + len(PAGES)] == list(PAGES)


def test_pages_are_rendered_right_after_the_overview():
    render = config()["project"]["render"]
    start = render.index(OVERVIEW)
    assert render[start + 1 : start + 1 + len(PAGES)] == list(PAGES)


def test_pages_exist_with_their_exact_titles():
    for page, title in PAGES.items():
        path = ROOT / page
        assert path.is_file(), f"{page} is missing"
        assert front_matter(path)["title"] == title


def test_pages_run_code_that_calls_dl4f_and_make_figures():
    for page in PAGES:
        text = (ROOT / page).read_text()
        assert "```{python}" in text
        assert re.search(r"^(from dl4f|import dl4f)", text, flags=re.MULTILINE), f"{page} does not call dl4f"
        if "import keras" in text:  # dl4f chooses the backend: it must come first
            assert text.index("import keras") > min(text.index(s) for s in ("from dl4f", "import dl4f") if s in text)
        assert "#| label: fig-" in text, f"{page} has no labelled figure"


def test_overview_links_every_chapter_of_the_module():
    text = (ROOT / OVERVIEW).read_text()
    links = set(re.findall(r"\]\(([^)#\s]+)", text))
    missing = [f for f in MODULE_FILES[1:] if f not in links]
    assert not missing, f"the overview does not link {missing}"

"""The chapters of the module "Training a Neural Network": in the sidebar, in order, with their exact titles."""

import re
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_quarto.yml").read_text())

CHAPTERS = {
    "chapters/training/training-loop.qmd": "Understanding the Training Loop",
    "chapters/training/optimizers.qmd": "Understanding Optimizers",
    "chapters/training/callbacks.qmd": "Understanding Callbacks",
    "chapters/training/practical-considerations.qmd": "Training Parameters and Practical Considerations",
    "chapters/training/forecast-evaluation.qmd": "Comparing Forecasts: Is the Difference Real?",
}
# The chapters that train a network on the S&P 500 data (the forecast-evaluation chapter compares stored forecasts).
TRAINING_CHAPTERS = [page for page in CHAPTERS if page != "chapters/training/forecast-evaluation.qmd"]


def _section(name):
    sections = [item for item in CONFIG["website"]["sidebar"]["contents"] if item.get("section") == name]
    assert len(sections) == 1, f"one sidebar section {name!r}"
    return sections[0]["contents"]


def _title(page):
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", (ROOT / page).read_text(), flags=re.DOTALL)
    return (yaml.safe_load(match.group(1)) or {}).get("title") if match else None


def test_training_chapters_follow_the_overview_in_order():
    contents = _section("Training a Neural Network")
    assert contents[0] == {"href": "chapters/training/index.qmd", "text": "Overview"}
    assert [item for item in contents[1:] if isinstance(item, str)][: len(CHAPTERS)] == list(CHAPTERS)
    render = CONFIG["project"]["render"]
    assert all(page in render for page in CHAPTERS)
    positions = [render.index(page) for page in CHAPTERS]
    assert positions == sorted(positions) and positions[0] > render.index("chapters/training/index.qmd")


def test_training_chapters_have_their_exact_titles_and_are_linked_from_the_overview():
    overview = (ROOT / "chapters/training/index.qmd").read_text()
    for page, title in CHAPTERS.items():
        assert _title(page) == title, f"{page}: title {_title(page)!r}, expected {title!r}"
        assert f"]({Path(page).name})" in overview, f"the overview does not link {page}"


def test_training_chapters_import_dl4f_before_keras_and_use_real_data():
    for page in TRAINING_CHAPTERS:
        text = (ROOT / page).read_text()
        assert text.index("import dl4f") < text.index("import keras"), f"{page} imports keras before dl4f"
        assert "tp_rnn.load_data(" in text, f"{page} does not use the S&P 500 data of the cache"


def test_seed_results_are_small_and_complete():
    table = pd.read_csv(ROOT / "chapters/training/results/seeds.csv")
    assert set(table.columns) >= {"model", "batch_size", "seed", "test_r2", "seconds"}
    runs = table.groupby(["model", "batch_size"]).size()
    assert len(runs) >= 4 and runs.min() >= 3, "several seeds for each configuration"
    assert table["test_r2"].between(-1, 1).all()
    assert (ROOT / "chapters/training/results/seeds.csv").stat().st_size < 20_000

"""The second half of the introduction module's chapters: in _quarto.yml (sidebar and render list) in
order, after the module's first chapters, with their exact titles; the result files they read exist."""

from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_quarto.yml").read_text())
MODULE = "Introduction to Deep Learning"
PAGES = {
    "chapters/intro/gpus.qmd": "GPUs and Deep Learning: When Hardware Matters",
    "chapters/intro/keras-fundamentals.qmd": "Keras Fundamentals: Models & Layers",
    "chapters/intro/keras-ops.qmd": "Keras Matrix Operations",
    "chapters/intro/activations.qmd": "Activation Functions",
    "chapters/intro/training-fundamentals.qmd": "Model Training Fundamentals",
}
FIRST_CHAPTERS = ["traditional-models.qmd", "mlp.qmd", "autodiff.qmd", "backends.qmd"]


def href(item) -> str:
    return item if isinstance(item, str) else item.get("href", "")


def module_entries() -> list[str]:
    sections = [s for s in CONFIG["website"]["sidebar"]["contents"] if isinstance(s, dict) and s.get("section") == MODULE]
    assert len(sections) == 1, f"one sidebar section named {MODULE!r}"
    return [href(item) for item in sections[0]["contents"]]


def front_matter_title(rel: str) -> str:
    text = (ROOT / rel).read_text()
    assert text.startswith("---\n"), f"{rel} starts with a YAML front matter"
    return yaml.safe_load(text.split("---\n")[1])["title"]


def test_pages_are_in_the_sidebar_in_order_after_the_overview_and_first_chapters():
    entries = module_entries()
    assert entries[0] == "chapters/intro/index.qmd"
    positions = [entries.index(page) for page in PAGES]
    assert positions == sorted(positions) and positions[-1] - positions[0] == len(PAGES) - 1, (
        f"the five chapters are consecutive and in order: {entries}"
    )
    for name in FIRST_CHAPTERS:
        page = f"chapters/intro/{name}"
        if page in entries:
            assert entries.index(page) < positions[0], f"{name} comes before {list(PAGES)[0]}"


def test_pages_are_rendered_in_the_same_order():
    render = CONFIG["project"]["render"]
    positions = [render.index(page) for page in PAGES]
    assert positions == sorted(positions) and positions[-1] - positions[0] == len(PAGES) - 1


def test_pages_have_their_exact_titles():
    for page, title in PAGES.items():
        assert front_matter_title(page) == title


def test_pages_import_dl4f_before_keras():
    for page in PAGES:
        text = (ROOT / page).read_text()
        if "import keras" in text:
            assert text.index("import dl4f") < text.index("import keras"), f"{page} imports keras before dl4f"


def test_committed_benchmark_results_have_the_columns_the_pages_read():
    lstm = pd.read_csv(ROOT / "chapters/intro/results/lstm_epoch.csv")
    assert {"batch_size", "updates_per_epoch", "seconds_per_epoch", "cpu_seconds_per_epoch", "train_gflop_per_epoch",
            "cpus", "load_average_1min"} <= set(lstm)
    assert (lstm.seconds_per_epoch > 0).all() and (lstm.cpu_seconds_per_epoch > 0).all()
    assert lstm.batch_size.is_monotonic_increasing
    assert 64 in set(lstm.batch_size)  # gpus.qmd quotes the batch-64 epoch
    capacity = pd.read_csv(ROOT / "chapters/intro/results/capacity.csv")
    assert {"width", "parameters", "seed", "epoch", "train_mse", "val_mse", "test_r2"} <= set(capacity)
    assert capacity.groupby(["width", "seed"]).epoch.max().nunique() == 1  # every run has the same epochs
    expected = {  # the stored runs of benchmarks/intro_activations.py, intro_training.py, intro_autodiff.py
        "activations_gradients.csv": {"init", "activation", "seed", "layer", "grad_norm"},
        "activations_dead_relu.csv": {"lr", "test_r2", "dm_stat", "dm_pvalue"},
        "training_overfit.csv": {"epoch", "train_mse", "val_mse", "parameters", "train_seconds"},
        "training_overfit_predictions.csv": {"date", "pred_last_epoch", "pred_best_epoch"},
        "autodiff_modes.csv": {"varying", "size", "mode", "ms", "cpu", "load_average_1min"},
    }
    for name, columns in expected.items():
        table = pd.read_csv(ROOT / "chapters/intro/results" / name)
        assert columns <= set(table), (name, columns - set(table))
        assert len(table) > 0 and not table[sorted(columns - {"cpu", "date"})].isna().all().any(), name

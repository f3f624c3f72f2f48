"""The students' wheel of the course library: ``dl4f`` without the instructor's hidden checks.

The repository holds two top-level packages under ``lib/`` (setuptools' ``packages.find where=["lib"]`` finds
both): ``dl4f``, the library behind every page and TP, and ``dl4f_grading``, the instructor's trusted checks and
thresholds. Students install a wheel published on the site, built by ``build_student_wheel`` from a temporary
folder that holds only ``pyproject.toml`` (unchanged: same name, version and dependencies), a short
student README (the repository's README describes grading and ``solutions/``) and ``lib/dl4f``.
``check_student_wheel`` opens the result and refuses a wheel that holds ``dl4f_grading``, anything from
``solutions/``, a hidden-test line of a source notebook, or the name of a hidden threshold.

The build runs ``pip wheel --no-deps``. When this environment has setuptools >= 77 (the version pyproject.toml
asks for) it builds with ``--no-build-isolation``, offline; otherwise pip builds in an isolated environment and
fetches setuptools from the package index (or pip's cache).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from dl4f.assignments import ROOT

GRADING_PACKAGE = "dl4f_grading"
INSTRUCTOR_PACKAGES = (GRADING_PACKAGE, "dl4f_service")  # never in the students' wheel
SETUPTOOLS_MIN = (77, 0)

STUDENT_README = """\
# dl4f: the library of the Deep Learning for Finance course

The Python library behind the course's pages and practical assignments (TPs): market data kept in a local
cache, sliding windows, the TPs' models and training recipes, evaluation and figures, and the `dl4f` command.

```bash
pip install <the wheel's address, given on the course site>
dl4f data fetch ^GSPC                       # online; or: dl4f data import GSPC.csv (the course's data file)
jupyter lab                                 # open the TP notebook downloaded from its page on the site
dl4f tp check tp-rnn.ipynb                  # run the visible tests in a fresh kernel; exit 1 if one fails
```

Import `dl4f` before `keras` (it selects the JAX backend when none is set). Released under the MIT licence.
"""


def hidden_names(root: Path = ROOT) -> list[str]:
    """The names of the hidden thresholds: every module-level UPPER_CASE name containing ``THRESHOLD`` that
    ``root/lib/dl4f_grading/`` defines ([] without that package). They are read from the package, never written
    here: this module ships in the students' wheel."""
    names = set()
    for path in sorted((Path(root) / "lib" / GRADING_PACKAGE).glob("**/*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AnnAssign) else []
            for target in targets:
                if isinstance(target, ast.Name) and target.id.isupper() and "THRESHOLD" in target.id:
                    names.add(target.id)
    return sorted(names)


def hidden_test_lines(root: Path = ROOT) -> list[str]:
    """Code lines of the ``### BEGIN HIDDEN TESTS`` regions of ``root/solutions/*/*.ipynb`` (long enough to be
    specific, and found nowhere else in their notebook); [] when there is no ``solutions/``."""
    import nbformat

    lines = set()
    for source in sorted((Path(root) / "solutions").glob("*/*.ipynb")):
        text = "\n".join(cell.source for cell in nbformat.read(source, as_version=4).cells)
        pattern = r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS"
        inside = {ln.strip() for block in re.findall(pattern, text, flags=re.DOTALL) for ln in block.splitlines()}
        outside = {ln.strip() for ln in re.sub(pattern, "", text, flags=re.DOTALL).splitlines()}
        lines |= {ln for ln in inside - outside if len(ln) > 25 and not ln.startswith("#")}
    return sorted(lines)


def check_student_wheel(path, root: Path = ROOT, extra_names=()) -> list[str]:
    """Raise ``ValueError`` if the wheel ``path`` holds anything students must not get; return its file names.

    Refused: a file of the ``dl4f_grading`` package (or the package named in ``top_level.txt``), a file whose path
    goes through a ``solutions`` folder, a notebook, a hidden-test line of ``root/solutions/`` (see
    ``hidden_test_lines``) or a hidden threshold's name (``hidden_names``, plus ``extra_names``) in any file.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a wheel (not a zip archive)")
    names = sorted(set(hidden_names(root)) | set(extra_names))
    names_re = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b") if names else None
    hidden_lines = hidden_test_lines(root)
    problems = []
    with zipfile.ZipFile(path) as wheel:
        files = wheel.namelist()
        for name in files:
            parts = name.split("/")
            for package in INSTRUCTOR_PACKAGES:
                if parts[0] == package or parts[0].startswith(package + "-"):
                    problems.append(f"{name}: the instructor's package {package}")
            if "solutions" in parts[:-1]:
                problems.append(f"{name}: a file from solutions/")
            if name.endswith(".ipynb"):
                problems.append(f"{name}: a notebook (the wheel holds the library only)")
            text = wheel.read(name).decode("utf-8", errors="replace")
            if name.endswith(".dist-info/top_level.txt"):
                problems += [f"{name}: lists {p}" for p in INSTRUCTOR_PACKAGES if p in text.split()]
            found = sorted(set(names_re.findall(text))) if names_re else []
            if found:
                problems.append(f"{name}: the hidden threshold name(s) {', '.join(found)}")
            leaked = [line for line in hidden_lines if line in text]
            if leaked:
                problems.append(f"{name}: {len(leaked)} hidden-test line(s) of solutions/, e.g. {leaked[0]!r}")
    if problems:
        raise ValueError(f"{path.name} is not a student wheel: " + "; ".join(problems[:10])
                         + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
    return files


def _setuptools_is_recent() -> bool:
    try:
        version = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        return False
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    return numbers >= SETUPTOOLS_MIN


def build_student_wheel(out_dir, root: Path = ROOT) -> Path:
    """Build the students' wheel of ``dl4f`` into ``out_dir`` and return its path (checked, see module docstring).

    A wheel that fails ``check_student_wheel`` is deleted and the check's ``ValueError`` raised; a failing build
    raises ``RuntimeError`` with pip's output.
    """
    root, out_dir = Path(root), Path(out_dir)
    package = root / "lib" / "dl4f"
    if not (root / "pyproject.toml").is_file() or not (package / "__init__.py").is_file():
        raise FileNotFoundError(f"{root} is not the course repository (no pyproject.toml or lib/dl4f/__init__.py)")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dl4f-student-") as tmp:
        tmp = Path(tmp)
        shutil.copyfile(root / "pyproject.toml", tmp / "pyproject.toml")
        (tmp / "README.md").write_text(STUDENT_README, encoding="utf-8")
        for licence in root.glob("LICEN[CS]E*"):
            shutil.copyfile(licence, tmp / licence.name)
        shutil.copytree(package, tmp / "lib" / "dl4f",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*"))
        before = set(out_dir.glob("dl4f-*.whl"))
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out_dir), str(tmp)]
        if _setuptools_is_recent():
            command.insert(4, "--no-build-isolation")
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        proc = subprocess.run(command, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(
                f"pip wheel failed ({proc.returncode}); offline, install setuptools>=77 in this environment "
                f"(pip install 'setuptools>=77') so that the build needs no index:\n"
                + (proc.stdout[-2000:] + proc.stderr[-3000:]))
    version = project_version(root)
    wheel = out_dir / f"dl4f-{version}-py3-none-any.whl"
    if not wheel.is_file():
        made = sorted(set(out_dir.glob("dl4f-*.whl")) - before)
        raise RuntimeError(f"pip wheel wrote no {wheel.name} into {out_dir} (new files: {made})")
    try:
        check_student_wheel(wheel, root)
    except ValueError:
        wheel.unlink()  # never leave a leaking wheel where the site could publish it
        raise
    return wheel


def project_version(root: Path = ROOT) -> str:
    """The ``version`` of ``root/pyproject.toml``'s ``[project]`` table."""
    import tomllib

    return tomllib.loads((Path(root) / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]

"""The students' wheel: ``dl4f`` only, never ``dl4f_grading``, ``solutions/`` or the hidden thresholds.

``check_student_wheel`` is tested on small zip files written here; ``build_student_wheel`` builds two real wheels
with pip (a synthetic course, then this repository): 5-20 s each, as pip builds in an isolated environment unless
setuptools >= 77 is installed here.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

from dl4f import student_package
from dl4f.assignments import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
WHEEL_NAME = f"dl4f-{PYPROJECT['project']['version']}-py3-none-any.whl"


def make_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def make_course(root: Path, dl4f_files: dict[str, str]) -> Path:
    """A tiny course repository: the real pyproject.toml, a small lib/dl4f, a grading package, a source notebook."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "README.md").write_text("# Instructor README: solutions/ holds the hidden tests\n")
    for name, text in dl4f_files.items():
        (root / "lib" / "dl4f" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "lib" / "dl4f" / name).write_text(text)
    (root / "lib" / "dl4f_grading").mkdir(parents=True)
    (root / "lib" / "dl4f_grading" / "__init__.py").write_text("SECRET_THRESHOLDS = {'LSTM': 0.24}\nR2_MIN = 0.1\n")
    (root / "solutions" / "tp-x").mkdir(parents=True)
    hidden = "### BEGIN HIDDEN TESTS\nassert model.count_params() == 40_501, 'hidden structure check'\n### END HIDDEN TESTS"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(hidden)]),
                   root / "solutions" / "tp-x" / "tp-x.ipynb")
    return root


CLEAN = {
    "dl4f/__init__.py": "__version__ = '0.1.0'\n",
    "dl4f-0.1.0.dist-info/top_level.txt": "dl4f\n",
    "dl4f-0.1.0.dist-info/METADATA": "Name: dl4f\n",
}


def test_hidden_names_are_read_from_the_grading_package(tmp_path):
    course = make_course(tmp_path, {"__init__.py": ""})
    assert student_package.hidden_names(course) == ["SECRET_THRESHOLDS"]
    assert student_package.hidden_names(tmp_path / "nowhere") == []
    assert "R2_THRESHOLDS" in student_package.hidden_names(ROOT)  # this repository's dl4f_grading
    assert student_package.hidden_test_lines(course) == [
        "assert model.count_params() == 40_501, 'hidden structure check'"]


@pytest.mark.parametrize("extra, expected", [
    ({"dl4f_grading/__init__.py": ""}, "dl4f_grading/__init__.py: the instructor's package dl4f_grading"),
    ({"dl4f-0.1.0.dist-info/top_level.txt": "dl4f\ndl4f_grading\n"}, "lists dl4f_grading"),
    ({"dl4f_service/app.py": ""}, "dl4f_service/app.py: the instructor's package dl4f_service"),
    ({"dl4f/solutions/tp-x/notes.txt": "x"}, "a file from solutions/"),
    ({"dl4f/tp-x.ipynb": "{}"}, "a notebook"),
    ({"dl4f/models.py": "LIMITS = SECRET_THRESHOLDS  # copied\n"}, "the hidden threshold name(s) SECRET_THRESHOLDS"),
    ({"dl4f/models.py": "assert model.count_params() == 40_501, 'hidden structure check'\n"}, "1 hidden-test line(s)"),
])
def test_check_refuses_what_students_must_not_get(tmp_path, extra, expected):
    course = make_course(tmp_path / "course", {"__init__.py": ""})
    clean = make_zip(tmp_path / "clean.whl", CLEAN)
    assert sorted(student_package.check_student_wheel(clean, course)) == sorted(CLEAN)
    bad = make_zip(tmp_path / "bad.whl", {**CLEAN, **extra})
    with pytest.raises(ValueError, match="bad.whl is not a student wheel") as info:
        student_package.check_student_wheel(bad, course)
    assert expected in str(info.value)


def test_check_names_given_by_the_caller_and_refuses_a_non_zip(tmp_path):
    wheel = make_zip(tmp_path / "w.whl", {**CLEAN, "dl4f/x.py": "R2_THRESHOLDS_OLD = 1\nMY_LIMIT = 2\n"})
    student_package.check_student_wheel(wheel, tmp_path)  # no grading package here: nothing to look for
    with pytest.raises(ValueError, match=r"hidden threshold name\(s\) MY_LIMIT"):
        student_package.check_student_wheel(wheel, tmp_path, extra_names=["MY_LIMIT", "R2_THRESHOLDS"])
    (tmp_path / "not.whl").write_text("hello")
    with pytest.raises(ValueError, match="not a zip archive"):
        student_package.check_student_wheel(tmp_path / "not.whl", tmp_path)


@pytest.fixture(scope="module")
def course_wheel(tmp_path_factory):
    """The student wheel of a synthetic course (real pyproject.toml, a small dl4f, a grading package)."""
    root = make_course(tmp_path_factory.mktemp("course"), {
        "__init__.py": "__version__ = '0.1.0'\n",
        "cli.py": "def main():\n    return 0\n",
        "sub/__init__.py": "",
    })
    return student_package.build_student_wheel(root / "wheels", root=root)


def test_build_holds_dl4f_only_with_the_same_dependencies(course_wheel):
    assert course_wheel.name == WHEEL_NAME
    with zipfile.ZipFile(course_wheel) as z:
        names = z.namelist()
        meta = email.message_from_string(z.read(f"dl4f-{PYPROJECT['project']['version']}.dist-info/METADATA").decode())
        top_level = z.read(f"dl4f-{PYPROJECT['project']['version']}.dist-info/top_level.txt").decode().split()
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"dl4f"} and top_level == ["dl4f"]
    assert {"dl4f/__init__.py", "dl4f/cli.py", "dl4f/sub/__init__.py"} <= set(names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    # the same dependencies as pyproject.toml (extras not included: the wheel's METADATA marks them with `extra ==`)
    required = {str(Requirement(r)) for r in meta.get_all("Requires-Dist") if "extra ==" not in r}
    assert required == {str(Requirement(r)) for r in PYPROJECT["project"]["dependencies"]}
    assert len(required) == len(PYPROJECT["project"]["dependencies"]) > 10
    assert meta["Name"] == "dl4f" and meta["Version"] == PYPROJECT["project"]["version"]
    body = meta.get_payload()
    assert "dl4f tp check" in body and "solutions/" not in body  # the student README, not the instructor's


def test_installed_wheel_imports_dl4f_but_not_the_grading_package(course_wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--disable-pip-version-check", "-q", str(course_wheel)], check=True, timeout=60)
    out = subprocess.run([str(python), "-c", "import dl4f; print(dl4f.__file__)"], capture_output=True, text=True)
    assert out.returncode == 0 and str(venv) in out.stdout
    grading = subprocess.run([str(python), "-c", "import dl4f_grading"], capture_output=True, text=True)
    assert grading.returncode != 0 and "No module named 'dl4f_grading'" in grading.stderr
    assert (venv / "bin" / "dl4f").is_file(), "the dl4f command is installed"


def test_this_repository_builds_a_clean_student_wheel_or_is_refused(tmp_path):
    """This repository's dl4f: the wheel passes the check, unless lib/dl4f still holds a hidden threshold's
    name (then the build must refuse it and leave no wheel behind)."""
    names = student_package.hidden_names(ROOT)
    leaks = sorted(p.name for p in (ROOT / "lib" / "dl4f").glob("**/*.py")
                   if any(name in p.read_text() for name in names))
    if leaks:
        with pytest.raises(ValueError, match="hidden threshold name"):
            student_package.build_student_wheel(tmp_path, root=ROOT)
        assert not list(tmp_path.glob("*.whl")), f"a leaking wheel was left behind ({leaks})"
    else:
        wheel = student_package.build_student_wheel(tmp_path, root=ROOT)
        names_in_wheel = student_package.check_student_wheel(wheel, ROOT)
        assert "dl4f/__init__.py" in names_in_wheel and "dl4f/check.py" in names_in_wheel
        assert not any(n.startswith("dl4f_grading") for n in names_in_wheel)

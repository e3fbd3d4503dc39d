"""The package layering the architecture promises: gui -> export -> engine -> core.

The core must load without NumPy or Qt (the CLI, notebooks and the file reader use it alone), and
nothing below the GUI may pull in Qt, or `cnnstudio summary` and training on a server would need
a display library. Checked twice: statically over every file (including imports inside
functions), and dynamically in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnnstudio"
QT = ("PySide6", "pyqtgraph", "shiboken6")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name a file imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def files(sub: str) -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py"))


def offenders(sub: str, banned: tuple[str, ...]) -> list[str]:
    bad = []
    for path in files(sub):
        for name in imported_modules(path):
            if any(name == b or name.startswith(b + ".") for b in banned):
                bad.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return bad


@pytest.mark.parametrize("sub", ["core", "engine", "export"])
def test_no_qt_below_the_gui(sub: str) -> None:
    assert files(sub), sub
    assert offenders(sub, QT) == []


def test_core_is_standard_library_only() -> None:
    allowed_own = ("cnnstudio.core", "cnnstudio.resources")
    bad = []
    for path in files("core"):
        for name in imported_modules(path):
            top = name.split(".")[0]
            if top == "cnnstudio":
                if not any(name == a or name.startswith(a + ".") for a in allowed_own):
                    bad.append(f"{path.name} imports {name}")
            elif top not in sys.stdlib_module_names and top != "__future__":
                bad.append(f"{path.name} imports {name}")
    assert bad == []


def test_dependencies_point_one_way() -> None:
    assert offenders("core", ("cnnstudio.engine", "cnnstudio.export", "cnnstudio.gui",
                              "cnnstudio.commands", "cnnstudio.cli")) == []
    assert offenders("engine", ("cnnstudio.export", "cnnstudio.gui", "cnnstudio.commands",
                                "cnnstudio.cli")) == []
    assert offenders("export", ("cnnstudio.gui", "cnnstudio.commands", "cnnstudio.cli")) == []


PROBE = f"""
import importlib, json, pkgutil, sys
QT = {QT!r}
report = {{}}
import cnnstudio.core
for info in pkgutil.walk_packages(cnnstudio.core.__path__, "cnnstudio.core."):
    importlib.import_module(info.name)
report["core_numpy"] = "numpy" in sys.modules
import cnnstudio.engine
for info in pkgutil.walk_packages(cnnstudio.engine.__path__, "cnnstudio.engine."):
    importlib.import_module(info.name)
report["qt"] = sorted(m for m in sys.modules if m.split(".")[0] in QT)
report["torch"] = "torch" in sys.modules
print(json.dumps(report))
"""


def test_fresh_interpreter_imports_core_and_engine_without_qt() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["core_numpy"] is False, "importing cnnstudio.core must not load NumPy"
    assert report["qt"] == []
    assert report["torch"] is False, "torch is a test reference only, never imported by cnnstudio"

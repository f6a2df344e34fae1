"""The package layering: import-linter's contracts (.importlinter), plus what it cannot see: app.py (a script,
not a package), page scripts imported as modules, torch-free modules, and imports hidden in function bodies."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Streamlit runs each pages/*.py file as a script, and importing one would draw its UI; the packages under pages/
# (lesson_views, train_views) hold the shared renderers.
PAGE_SCRIPTS = tuple(sorted(p.stem for p in (ROOT / "pages").glob("*.py") if p.stem != "__init__"))

# Function-level `import explorer...` statements in explorer/, by (file, imported module), each with its reason.
# A lazy import to dodge a cycle is not a reason: move the shared code down a layer instead.
ALLOWED_FUNCTION_IMPORTS: dict[tuple[str, str], str] = {
    ("explorer/__init__.py", "explorer.models.builder"): "torch on first use, so plain-Python modules load without it",
    ("explorer/__init__.py", "explorer.models"): "torch on first use (explorer.models.cost), as above",
}


def test_import_contracts_are_kept() -> None:
    """pages > explorer.lessons > explorer.training | explorer.draw > explorer.models, no cycles, no streamlit."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every module that `path` imports, absolute, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.module, node.lineno)] + [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return found


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_no_page_script_or_app_is_imported() -> None:
    """app.py and the page scripts sit on top: nothing imports them."""
    assert {"build", "compare", "lessons", "train"} <= set(PAGE_SCRIPTS)
    scripts = {"app"} | {f"pages.{name}" for name in PAGE_SCRIPTS}
    bad = [f"{p.relative_to(ROOT)}:{line} imports {name}"
           for p in _python_files("explorer", "pages", "tests", "benchmarks") + [ROOT / "app.py"]
           for name, line in _imports(p) if name in scripts]
    assert not bad, bad


def test_every_page_script_is_a_page_of_the_app() -> None:
    named = {node.value for node in ast.walk(ast.parse((ROOT / "app.py").read_text()))
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("pages/")}
    assert {f"pages/{name}.py" for name in PAGE_SCRIPTS} == named


def test_app_imports_only_the_library_pages_and_streamlit() -> None:
    roots = {name.split(".")[0] for name, _ in _imports(ROOT / "app.py")}
    assert roots <= {"explorer", "pages", "streamlit", "__future__"}, roots


def _function_imports(path: Path) -> list[tuple[str, int]]:
    """`import explorer...` statements inside a function body (at any nesting)."""
    found = []
    for func in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(func):
                if isinstance(node, ast.Import):
                    found += [(a.name, node.lineno) for a in node.names if a.name.startswith("explorer")]
                elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("explorer"):
                    found.append((node.module, node.lineno))
    return sorted(set(found), key=lambda item: item[1])


def test_no_function_level_imports_inside_explorer() -> None:
    found = {(str(p.relative_to(ROOT)), module): line for p in _python_files("explorer")
             for module, line in _function_imports(p)}
    bad = [f"{path}:{line} imports {module} inside a function" for (path, module), line in found.items()
           if (path, module) not in ALLOWED_FUNCTION_IMPORTS]
    assert not bad, "\n".join(bad)
    stale = set(ALLOWED_FUNCTION_IMPORTS) - set(found)
    assert not stale, f"allowed but no longer there, delete from ALLOWED_FUNCTION_IMPORTS: {sorted(stale)}"


TORCH_FREE = ("explorer", "explorer.models.spec", "explorer.models.presets", "explorer.training.recipe")


@pytest.mark.parametrize("module", TORCH_FREE)
def test_plain_python_modules_load_without_torch(module: str) -> None:
    """Specs and recipes are plain data: the CLI, the run store and URL parsing must not pay torch's import."""
    code = f"import sys, {module}; assert 'torch' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:  # name the import that pulled torch in: rerun with torch refused, for a traceback
        refuse = ("import sys\nclass NoTorch:\n def find_spec(self, name, *args):\n"
                  "  if name.split('.')[0] == 'torch': raise ImportError('torch refused')\n"
                  f"sys.meta_path.insert(0, NoTorch())\nimport {module}")
        why = subprocess.run([sys.executable, "-c", refuse], cwd=ROOT, capture_output=True, text=True, timeout=120)
        pytest.fail(f"import {module} imports torch:\n{why.stderr or out.stderr}")

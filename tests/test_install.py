"""The install and packaging: pyproject.toml, the console scripts, the classroom config and .ci/install's skip
logic. The install script runs for real against fake system tools (apt-get, sudo, dot, ...) and a fake venv
python that logs its pip calls, on a PATH that holds nothing else, so no test downloads or installs anything.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# What the install script itself needs from the system; everything else on its PATH is a fake.
COREUTILS = ["basename", "cat", "cut", "dirname", "grep", "mkdir", "rm", "sed", "sha256sum", "tr", "chmod", "touch"]


# --- pyproject.toml ---------------------------------------------------------------------------------------------

def requirement_names(requirements: list[str]) -> set[str]:
    """Distribution names as their import names ("import-linter" -> "import_linter")."""
    return {re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].lower().replace("-", "_") for req in requirements}


def imported_packages(paths: list[Path]) -> set[str]:
    """The top-level names of every third-party package these files import (anywhere in the file)."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"explorer", "pages", "app", "tests", "benchmarks", "__future__"}


def test_pyproject_lists_every_package_the_code_imports():
    app = [ROOT / "app.py", *ROOT.glob("explorer/**/*.py"), *ROOT.glob("pages/**/*.py")]
    runtime = requirement_names(PYPROJECT["project"]["dependencies"])
    ray = requirement_names(PYPROJECT["project"]["optional-dependencies"]["ray"])
    assert ray == {"ray"}
    assert imported_packages(app) - runtime - ray == set()  # ray: only explorer.sweep's backend, on request
    assert {"torch", "streamlit"} <= imported_packages(app)  # the scan saw the code
    dev = requirement_names(PYPROJECT["project"]["optional-dependencies"]["dev"])
    # Beside the test modules themselves: packaging comes with pip, pyarrow with streamlit, _pytest is pytest.
    tests = list(ROOT.glob("tests/*.py"))
    assert imported_packages(tests) - runtime - dev - {p.stem for p in tests} - {"packaging", "pyarrow", "_pytest"} \
        == set()
    assert {"pytest", "hypothesis", "playwright", "import_linter"} <= dev
    # Empty extras are not declared, and no requirements file can drift from this list.
    assert all(PYPROJECT["project"]["optional-dependencies"].values())
    assert not list(ROOT.glob("requirements*.txt")), "the dependencies live in pyproject.toml only"


def test_every_requirement_the_installed_venv_needs_is_met():
    """The running interpreter (the project venv) satisfies pyproject's ranges: a stale venv or a range that
    excludes the version the suite runs on fails here, not in a student's install."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement  # pip's and setuptools' own parser, installed with them

    for text in PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["dev"]:
        req = Requirement(text)
        try:
            have = version(req.name)
        except PackageNotFoundError:
            pytest.fail(f"{req.name} is not installed in {sys.prefix}")
        assert req.specifier.contains(have, prereleases=True), f"{req.name} {have} is outside {req.specifier}"


@pytest.mark.parametrize("name", ["explorer-train", "explorer-app", "explorer-sweep"])
def test_console_scripts_resolve_to_callables(name):
    module, _, attr = PYPROJECT["project"]["scripts"][name].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))


def test_explorer_train_is_the_training_cli():
    from explorer.training import cli

    assert PYPROJECT["project"]["scripts"]["explorer-train"] == f"{cli.__name__}:{cli.main.__name__}"
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["explorer*"]  # the library only


def test_explorer_app_runs_streamlit_on_this_checkouts_app(monkeypatch):
    from explorer import app_launch

    calls = []
    monkeypatch.setattr(app_launch.os, "execv", lambda path, args: calls.append((path, args, os.getcwd())))
    monkeypatch.chdir("/")
    app_launch.main(["--server.port", "8999"])
    path, args, cwd = calls[0]
    assert path == sys.executable
    assert args == [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", "8999"]
    assert cwd == str(ROOT)  # .streamlit/config.toml applies only where streamlit starts


def test_explorer_app_and_import_explorer_do_not_load_streamlit():
    code = "import sys, explorer, explorer.app_launch; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# --- .streamlit/config.toml -------------------------------------------------------------------------------------

def test_classroom_config():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["toolbarMode"] in ("viewer", "minimal")  # no Deploy button, no rerun/clear cache
    assert config["client"]["showErrorDetails"] == "none"  # no traceback or server path reaches a student
    assert config["server"]["fileWatcherType"] == "none"


def test_streamlit_accepts_every_config_key():
    """A misspelt key is ignored by Streamlit with only a console warning: check each against its option list."""
    from streamlit import config as st_config

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    for section, values in config.items():
        for key, value in values.items():
            option = st_config.get_config_options()[f"{section}.{key}"]
            assert type(value) is type(option.default_val), (section, key, value)


# --- .ci/run and the README --------------------------------------------------------------------------------------

def test_ci_runs_the_readmes_test_command():
    quick = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("```bash", 1)[1].split("```")[0]
    lines = [line for line in quick.strip().splitlines() if line.strip()]
    assert len(lines) == 2, lines  # one line runs the app, one the tests: nothing else to type
    assert lines[1] in (ROOT / ".ci" / "run").read_text().splitlines()


# --- .ci/install, against fake tools ----------------------------------------------------------------------------

# A real machine's font list is longer than a pipe's buffer: `fc-list | grep -q .` under pipefail then fails.
FONTS = "printf 'DejaVuSans.ttf: DejaVu Sans:style=Book %s\\n' {1..20000}"
FAKE = r"""#!/bin/bash
echo "$(basename "$0") $*" >> "$LOG"
"""


class Machine:
    """A throwaway machine for .ci/install: a copy of the checkout's pyproject.toml and script, a PATH of fakes."""

    def __init__(self, tmp: Path, tools: set[str], root: bool = True, apt: bool = True):
        self.dir, self.log = tmp / "checkout", tmp / "log"
        (self.dir / ".ci").mkdir(parents=True)
        shutil.copy(ROOT / ".ci" / "install", self.dir / ".ci" / "install")
        shutil.copy(ROOT / "pyproject.toml", self.dir / "pyproject.toml")
        self.bin = tmp / "bin"
        self.bin.mkdir()
        for name in COREUTILS:
            (self.bin / name).symlink_to(shutil.which(name))
        self.fake("id", 'echo ' + ("0" if root else "1000"))
        self.fake("sudo", '"$@"')
        if apt:  # apt-get "installs" a package by adding its tool to the PATH
            self.fake("apt-get", 'for p in "$@"; do case $p in graphviz) t=dot;; python3-venv) t=python3-venv-ok;; '
                                 'fonts-dejavu-core) t=fc-list;; *) t=$p;; esac; [ "${p#-}" = "$p" ] && '
                                 'printf "#!/bin/bash\\necho font\\n" > "$BIN/$t" && chmod +x "$BIN/$t"; done; true')
        for tool in tools:
            self.fake(tool, FONTS if tool == "fc-list" else "true")
        if "latin-fonts" in tools:  # fonts, but none that can write Korean
            self.fake("fc-list", f'case "$1" in :lang=*) ;; *) {FONTS};; esac')
        # python3 makes a venv whose python logs its pip calls; without python3-venv it fails as Debian's does.
        self.fake("python3", 'case "$1" in -V) echo "Python 3.11.2";; -m) '
                             '[ -x "$BIN/python3-venv-ok" ] || { echo "ensurepip is not available"; exit 1; }; '
                             'mkdir -p "$3/bin"; printf "#!/bin/bash\\necho \\"venv-python \\$*\\" >> \\"$LOG\\"\\n"'
                             ' > "$3/bin/python"; chmod +x "$3/bin/python";; esac')
        self.venv = tmp / "venv"

    def fake(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text(FAKE + body + "\n")
        path.chmod(0o755)

    def run(self, *options: str, expect: int = 0) -> tuple[str, list[str]]:
        self.log.write_text("")
        env = {"PATH": str(self.bin), "LOG": str(self.log), "BIN": str(self.bin), "EXPLORER_VENV": str(self.venv)}
        out = subprocess.run(["/bin/bash", str(self.dir / ".ci" / "install"), *options], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == expect, out.stdout + out.stderr
        calls = [line for line in self.log.read_text().splitlines()
                 if not line.startswith(("id", "fc-list"))]  # the checks themselves
        return out.stdout + out.stderr, calls


ALL_TOOLS = {"python3-venv-ok", "dot", "chromium", "fc-list"}


def pip_calls(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("venv-python -m pip")]


def test_install_on_a_complete_machine_runs_no_apt_and_pip_once(tmp_path):
    machine = Machine(tmp_path, ALL_TOOLS, root=False)
    out, calls = machine.run("--dev")
    assert not [c for c in calls if c.startswith(("apt-get", "sudo"))], calls  # no root, no apt-get update
    assert pip_calls(calls) == ["venv-python -m pip install --disable-pip-version-check -e .[dev]"], calls
    digest = hashlib.sha256((machine.dir / "pyproject.toml").read_bytes()).hexdigest()
    assert (machine.venv / ".explorer-installed").read_text().split() == [digest, "dev"]
    # Again: nothing to do. A plain install is covered by the dev one too.
    for options in (["--dev"], []):
        out, calls = machine.run(*options)
        assert pip_calls(calls) == [] and "up to date" in out, (options, calls)


def test_install_reruns_pip_when_pyproject_changes_or_dev_is_new(tmp_path):
    machine = Machine(tmp_path, ALL_TOOLS)
    machine.run()
    _, calls = machine.run("--dev")  # the app-only install lacks the test tools
    assert pip_calls(calls) == ["venv-python -m pip install --disable-pip-version-check -e .[dev]"]
    with open(machine.dir / "pyproject.toml", "a") as f:
        f.write("# a new dependency would change this file\n")
    _, calls = machine.run()
    assert pip_calls(calls) == ["venv-python -m pip install --disable-pip-version-check -e ."]


def test_install_adds_only_the_missing_debian_packages_with_sudo(tmp_path):
    machine = Machine(tmp_path, {"chromium", "fc-list"}, root=False)  # no dot, and python3 cannot make a venv
    out, calls = machine.run("--dev")
    apt = [c for c in calls if c.startswith("sudo")]
    assert apt == ["sudo apt-get update", "sudo apt-get install -y --no-install-recommends python3-venv graphviz"]
    assert (machine.venv / "bin" / "python").exists()  # made after python3-venv arrived
    assert "Installing python3-venv graphviz with apt-get" in out
    _, calls = machine.run("--dev")
    assert calls == [], calls  # the second run finds everything


def test_install_adds_a_korean_font_where_only_latin_ones_exist(tmp_path):
    machine = Machine(tmp_path, {"python3-venv-ok", "dot", "chromium", "latin-fonts"})
    out, calls = machine.run("--dev")
    assert [c for c in calls if c.startswith("apt-get")] == [
        "apt-get update", "apt-get install -y --no-install-recommends fonts-noto-cjk"], calls  # as root: no sudo


def test_install_without_apt_names_what_is_missing(tmp_path):
    machine = Machine(tmp_path, {"python3-venv-ok"}, apt=False)
    out, calls = machine.run("--dev", expect=1)
    assert "missing graphviz fonts-noto-cjk chromium fonts-dejavu-core (Debian's names)" in out
    assert pip_calls(calls) == []


def test_install_cpu_takes_only_torch_from_the_cpu_index(tmp_path):
    machine = Machine(tmp_path, ALL_TOOLS)
    _, calls = machine.run("--cpu")
    torch_reqs = [r for r in PYPROJECT["project"]["dependencies"] if re.match(r"torch(vision)?[<>=!~]", r)]
    assert len(torch_reqs) == 2, torch_reqs
    assert pip_calls(calls) == [
        f"venv-python -m pip install --disable-pip-version-check --index-url {CPU_INDEX} {' '.join(torch_reqs)}",
        "venv-python -m pip install --disable-pip-version-check -e ."]


def test_install_refuses_an_unknown_option(tmp_path):
    out, calls = Machine(tmp_path, ALL_TOOLS).run("--gpu", expect=2)
    assert "unknown option '--gpu'" in out and calls == []


# --- the README and docs/ link to what exists --------------------------------------------------------------------

def github_anchor(heading: str) -> str:
    """GitHub's id for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/*.md"))])
def test_links_and_images_point_to_files_and_headings_that_exist(page):
    path = ROOT / page
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s): links are not checked offline
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.is_file(), f"{page}: {target} does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.M)
            assert anchor in {github_anchor(h) for h in headings}, f"{page}: no heading #{anchor} in {file or page}"


def test_readme_lists_every_lesson_with_its_title_and_key():
    from explorer.lessons import LESSONS

    section = (ROOT / "README.md").read_text().split("## The lessons", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^(\d+)\. \*\*(.+?)\*\* \(`(\w+)`", section, flags=re.M)
    assert [(f"{n}. {title}", key) for n, title, key in listed] == [(item.title, item.key) for item in LESSONS]

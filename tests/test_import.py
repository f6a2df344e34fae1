import subprocess
import sys

# Every module of the library, imported in a fresh interpreter: .importlinter's "no streamlit" contract checks the
# import statements; this checks what actually loads, and that every module imports at all.
CODE = """
import pkgutil, sys, importlib, explorer
names = [m.name for m in pkgutil.walk_packages(explorer.__path__, "explorer.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(len(names), 'streamlit' in sys.modules)
"""


def test_import_explorer_does_not_import_streamlit():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr  # a module that fails to import
    count, imported = out.stdout.split()
    assert int(count) > 30  # every module was found, not just the package
    assert imported == "False"

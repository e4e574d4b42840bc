"""The engine imports no web framework: it runs from tests and commands alone."""

from __future__ import annotations

import subprocess
import sys

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {'flask', 'werkzeug', 'jinja2'}:
            raise ImportError('the engine must not import ' + name)
sys.meta_path.insert(0, Block())
import pkgutil, importlib, apploom.engine
for module in pkgutil.walk_packages(apploom.engine.__path__, 'apploom.engine.'):
    importlib.import_module(module.name)
print('ok')
"""


def test_engine_imports_without_flask():
    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"

"""The pure library never imports Prefect."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import cofi


def test_importing_all_of_cofi_leaves_prefect_out() -> None:
    modules = [m.name for m in pkgutil.walk_packages(cofi.__path__, "cofi.")]
    code = (
        "import sys, importlib\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "import cofi; cofi.fit\n"
        "assert 'prefect' not in sys.modules, sorted(m for m in sys.modules if m.startswith('prefect'))\n"
        "print(len(sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert len(modules) >= 8

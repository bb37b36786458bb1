"""TensorFlow's start-up notice is held back; everything else it writes is passed on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORT = (
    "import sys; from cofi.runtime import import_tensorflow; import_tensorflow(); "
    "import_tensorflow(); print('after', file=sys.stderr)"
)


def _stderr(tmp_path: Path, *paths: Path, code: str = IMPORT) -> str:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [*paths, ROOT]))}
    environment.pop("TF_ENABLE_ONEDNN_OPTS", None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return done.stderr


def test_the_notice_is_left_out_and_other_lines_are_passed_on(tmp_path) -> None:
    # a stand-in tensorflow that writes to the file descriptor, as TensorFlow's C++ does
    (tmp_path / "tensorflow.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are "
        "written to STDERR\\n')\n"
        "os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on. You may see\\n')\n"
        "os.write(2, b'a real warning\\n')\n"
    )
    assert _stderr(tmp_path, tmp_path) == "a real warning\nafter\n"


def test_tensorflow_itself_starts_without_its_notice(tmp_path) -> None:
    stderr = _stderr(tmp_path)
    assert "oneDNN custom operations" not in stderr and "absl::InitializeLog" not in stderr
    assert stderr.endswith("after\n")


def test_the_objectives_load_tensorflow_without_its_notice(tmp_path) -> None:
    # objectives are where a model's load, fit or fold-in first needs TensorFlow
    code = (
        "import sys; from cofi.models.objectives import objective_class; "
        "objective_class('biased'); print('after', file=sys.stderr)"
    )
    stderr = _stderr(tmp_path, code=code)
    assert "oneDNN custom operations" not in stderr and stderr.endswith("after\n")

"""TensorFlow's start-up in a command's process: quiet, with oneDNN's CPU kernels left on.

``TF_ENABLE_ONEDNN_OPTS=0`` would silence TensorFlow's start-up notice, but it also turns off
the oneDNN kernels: a mini-batch epoch on 4.5M ratings took 1.87 s without them and 0.83 s with
them (2 cores), and models stay the same from run to run either way. The notice is written to
the process's stderr before TensorFlow's logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` cannot
hide it; :func:`import_tensorflow` imports TensorFlow with stderr held back and passes on every
line but the notice's. The flows call it first thing; in the library, loading an objective (a
model's load, fit or fold-in) does, so a command that never needs TensorFlow never pays for it.
"""

from __future__ import annotations

import os
import sys
import tempfile

#: The start-up lines left out: oneDNN's notice, and absl's warning that comes with it.
NOTICES = (
    "oneDNN custom operations are on",
    "All log messages before absl::InitializeLog() is called",
)


def quiet_logs() -> None:
    """Hide TensorFlow's C++ info and warning logs, unless the environment says otherwise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def import_tensorflow() -> None:
    """Import TensorFlow once, leaving its start-up notices (:data:`NOTICES`) out of stderr.

    Anything else TensorFlow writes while it loads is passed on, after the import, errors
    included. Nothing is held back when TensorFlow is already loaded or stderr has no file
    descriptor (as under some test runners).
    """
    quiet_logs()
    if "tensorflow" in sys.modules:
        return
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(descriptor)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), descriptor)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, descriptor)
            os.close(saved)
            held.seek(0)
            for line in held.read().decode(errors="replace").splitlines(keepends=True):
                if not any(notice in line for notice in NOTICES):
                    sys.stderr.write(line)
            sys.stderr.flush()

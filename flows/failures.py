"""A failure the user can fix, told in one line: the run's state message, its log and the command.

A :class:`cofi.errors.CofiError` (bad data, a bad parameter) or an :class:`OSError` of the
disk (full, read-only, not writable, a file where a folder should be) is the user's to fix:
its message is the whole story, so the flow fails with it as the state message (the header of
the run in the Prefect UI) and the log holds it once, without Prefect's traceback. Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque

from prefect import get_run_logger
from prefect.exceptions import MissingContextError
from prefect.states import Failed, State

from cofi.errors import DISK_ERRNOS, CofiError

# Some libraries (pyarrow) raise an OSError with errno None and "[Errno 28] ..." in the text.
_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\]")


def reason(error: BaseException) -> str | None:
    """The one-line reason of a failure the user can fix; None for anything else (a bug)."""
    if isinstance(error, CofiError):
        return " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, OSError):
        code = error.errno
        if code is None and (found := _ERRNO_IN_TEXT.search(str(error))):
            code = int(found.group(1))
        if code in DISK_ERRNOS:
            problem = error.strerror or str(error)
            return f"{error.filename}: {problem}" if error.filename else problem
    return None


# The raw text of the errors told lately, so the task's "Finished in state Failed(...)" line that
# follows can be recognised, and the flow does not log a reason a task already logged.
_TOLD: deque[str] = deque(maxlen=64)
_TOLD_LOCK = threading.Lock()


def already_told(error: BaseException) -> bool:
    """Whether a task run's log already holds ``error``'s one line."""
    with _TOLD_LOCK:
        return str(error) in _TOLD


class OneLineFailures(logging.Filter):
    """On Prefect's run loggers: a user's failure is logged as its one-line reason, once.

    The task engine logs ``Task run failed with exception: DataError(...)`` with a traceback of
    its own internals, then ``Finished in state Failed('Task run encountered an exception ...')``
    at ERROR; the first becomes the reason alone, the second an INFO line without it. (A task
    not retried for a user's failure logs only the second; the flow then logs the reason.)
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        told = reason(error) if error is not None else None
        if error is not None and told is not None:
            with _TOLD_LOCK:
                _TOLD.append(str(error))
            record.msg, record.args = told, ()
            record.exc_info, record.exc_text = None, None
        elif record.levelno >= logging.ERROR and str(record.msg).startswith(
            "Finished in state Failed("
        ):
            text = record.getMessage()
            with _TOLD_LOCK:
                known = any(raw and raw in text for raw in _TOLD)
            if known or _names_a_users_failure(text):
                record.msg, record.args = "Finished in state Failed", ()
                record.levelno, record.levelname = logging.INFO, "INFO"
        return True


# "Task run encountered an exception DataError: ..." (a task that is not retried for a user's
# failure logs no exception of its own, only this state line).
_STATE_EXCEPTION = re.compile(r"encountered an exception (\w+): (.*)")


def _names_a_users_failure(text: str) -> bool:
    found = _STATE_EXCEPTION.search(text)
    if found is None:
        return False
    name, detail = found.groups()
    if name in _subclass_names(CofiError):
        return True
    code = _ERRNO_IN_TEXT.search(detail)
    return name in _subclass_names(OSError) and code is not None and int(code[1]) in DISK_ERRNOS


def _subclass_names(base: type) -> set[str]:
    names, pending = set(), [base]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


#: The loggers of Prefect's task and flow runs (the engines' and get_run_logger's).
RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


def install() -> None:
    """Put :class:`OneLineFailures` on Prefect's run loggers of this process (once)."""
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, OneLineFailures) for existing in logger.filters):
            logger.addFilter(OneLineFailures())


def failed(error: BaseException) -> State | None:
    """The Failed state a flow returns for a user's failure: its reason as the state message,
    logged once; None for a bug (let it raise, with its traceback).

    The caller of the flow still gets ``error`` raised (the state holds it as its data).
    """
    told = reason(error)
    if told is None:
        return None
    if not already_told(error):
        try:
            get_run_logger().error(told)
        except MissingContextError:  # the flow's .fn(), outside a flow run
            pass
    return Failed(message=told, data=error)

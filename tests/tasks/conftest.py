"""The task tests read the same ratings as the flow tests (and a train task, which writes a
progress artifact, talks to a test Prefect server)."""

from tests.flows.conftest import harness, ratings_source, synthetic_source  # noqa: F401

"""Prefect flows and deployments: wiring, parameters and schedules only."""

"""Thin Prefect tasks: each loads its inputs from paths, calls cofi, saves, returns a path or summary."""

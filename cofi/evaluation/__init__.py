"""Evaluation: splits, rating and ranking metrics, baselines, hold-out evaluation and sweeps."""

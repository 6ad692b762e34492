"""The tuning engine: job store, Optuna workers and the PyTorch trial runner.

Imports `advisor` only (never `api`); all SQL lives in this package. The path of one job through
its modules is in docs/architecture.md.
"""

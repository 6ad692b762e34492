"""The tuning engine: job store, Optuna workers and the PyTorch trial runner."""

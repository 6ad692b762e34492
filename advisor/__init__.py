"""hpadvisor's rules engine: a training profile in, explained hyperparameters out.

Pure Python: imports only pydantic and the standard library, so it can be embedded anywhere.
"""

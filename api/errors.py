"""Errors the command line reports without a traceback."""


class UsageError(Exception):
    """Bad input from the user: printed as `hpadvisor: error: ...`, exit status 2."""

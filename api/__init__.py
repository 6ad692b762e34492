"""The HTTP service, dashboard and command-line client.

Imports `worker` and `advisor` (nothing imports `api`); it runs no SQL of its own: routes and
dashboard views call `worker` functions. The rooms and their doors are in docs/architecture.md.
"""

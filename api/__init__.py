"""The HTTP service, dashboard and command-line client."""

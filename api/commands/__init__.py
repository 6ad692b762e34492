"""Sub-commands of `hpadvisor`. Each module exposes `register(subparsers)`; a sub-command sets
`handler` (a function of the parsed arguments returning the exit status)."""

from types import ModuleType

from api.commands import advice, evidence, service, worker

COMMAND_MODULES: list[ModuleType] = [advice, service, worker, evidence]

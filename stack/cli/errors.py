"""The CLI's user error: printed without a traceback, exit status 2."""

from stack.errors import L4Error

EXIT_OK = 0
EXIT_BUDGET_VIOLATED = 1
EXIT_USAGE = 2


class CliError(L4Error):
    """A user error: bad file, bad argument, bad input data."""


def require_modules(purpose: str, *modules: str, extra: str = "train") -> None:
    """CliError naming the first of ``modules`` not installed and the pip extra that brings it.

    Found by ``importlib.util.find_spec``: nothing is imported here, so a tool command can
    say what is missing before its own heavy imports.
    """
    from importlib.util import find_spec

    for name in modules:
        if find_spec(name) is None:
            raise CliError(
                f"{purpose} needs {name} (the [{extra}] extra): pip install 'l4stack[{extra}]'"
            )

"""keypaird for Python test suites: start the bundled binary, make accounts, point clients at it.

`Server` runs ``keypaird serve`` on a free loopback port for as long as a ``with`` block lasts;
the pytest plugin (``keypaird.pytest_plugin``, loaded through the ``pytest11`` entry point)
gives every test its own account on one server per session.
"""

from importlib.metadata import PackageNotFoundError, version

from keypaird._server import Account, Server, ServerError, find_binary

try:
    __version__ = version("keypaird")
except PackageNotFoundError:  # imported from a source tree, not installed
    __version__ = "0+unknown"

__all__ = ["Account", "Server", "ServerError", "find_binary", "__version__"]

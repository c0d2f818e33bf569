"""``dagwright run --dask ADDRESS``: the Dask client and runner a run's calls go through.

The command stays a client of the public API: it connects ``distributed.Client(ADDRESS,
timeout=...)``, passes ``DaskRunner(client)`` to the executor and closes both when the
command ends, however it ends. What it adds is only what a command line needs:

* Without the ``dask`` extra, ``--dask`` is one coded line (``IntegrationUnavailableError``,
  hint ``pip install 'dagwright[dask]'``), before anything is loaded or opened.
* An address Dask cannot parse is a usage error (exit 2) found before connecting: a
  client built on such an address is left half-made by ``distributed``, and would hang
  and print a traceback when collected.
* A scheduler that does not answer within ``--dask-timeout`` seconds is one coded line
  (``RunnerError``), never a traceback.
* The client is the command's own (``set_as_default=False``: no other code picks it up)
  and is closed with the same timeout; a close that fails after the run is a warning,
  never a change to the run's exit code.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dagwright.errors import IntegrationUnavailableError, RunnerError

if TYPE_CHECKING:
    from distributed import Client

    from dagwright.runners import DaskRunner

_INSTALL = "pip install 'dagwright[dask]'"


def require_distributed() -> None:
    """Raise ``IntegrationUnavailableError`` unless ``dask.distributed`` imports."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise IntegrationUnavailableError(
            "--dask needs dask.distributed, which is not installed", hint=_INSTALL
        ) from exc


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a scheduler address Dask can connect to, or ``None``.

    Uses Dask's own parsing (scheme, then host and port for the transports that have
    them); nothing is resolved or connected here."""
    from distributed.comm.addressing import parse_address
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(address)
        backend: Any = get_backend(scheme)  # Dask's transports are untyped
        with contextlib.suppress(NotImplementedError):  # transports without host:port
            backend.get_address_host_port(location)
    except (TypeError, ValueError) as exc:
        return " ".join(str(exc).split())
    return None


@contextlib.contextmanager
def dask_runner(address: str | None, timeout: float) -> Iterator[DaskRunner | None]:
    """While the block runs, a ``DaskRunner`` on a client connected to ``address`` (or
    ``None`` without an address); the runner, then the client, are closed after it."""
    if address is None:
        yield None
        return
    from dagwright.runners import DaskRunner

    client = _connect(address, timeout)
    try:
        with DaskRunner(client) as runner:
            yield runner
    finally:
        _close(client, address, timeout)


def _connect(address: str, timeout: float) -> Client:
    import distributed

    connect: Any = distributed.Client  # its constructor is untyped
    try:
        client: Client = connect(address, timeout=timeout, set_as_default=False)
        return client
    except (OSError, ImportError) as exc:  # ImportError: a transport's own library
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise RunnerError(
            f"cannot connect to the Dask scheduler at {address}: {reason}",
            hint="check the address and that the scheduler is running (`dask scheduler`); "
            "wait longer with --dask-timeout SECONDS",
        ) from None


def _close(client: Client, address: str, timeout: float) -> None:
    close: Any = client.close  # untyped in distributed
    try:
        close(timeout=timeout)
    except Exception as exc:  # the scheduler went away: the run is already recorded
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(
            f"dagwright: warning: the Dask client of {address} did not close cleanly: {reason}",
            file=sys.stderr,
        )

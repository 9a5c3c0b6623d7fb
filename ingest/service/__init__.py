"""``ingest serve``: a web service over an output folder's ledger (and others', read only) that takes runs over
HTTP and shows them.

Built on Flask (what the systems this project grew from use; synchronous handlers suit a service whose work is
reading SQLite and starting child processes) and served by waitress (a production WSGI server in pure Python,
threaded, no build step), with Jinja2's escaping for untrusted keys.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
from collections.abc import Callable

from ingest.config import ServeConfig
from ingest.errors import ConfigError

log = logging.getLogger("ingest")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def token_for(config: ServeConfig) -> tuple[str, str | None]:
    """The token writes need, and where it was written for the user when none was given: a server on this machine
    only makes one up (into a file only its user can read); one others can reach must be given one."""
    from ingest.state import state_dir

    if config.token:
        return config.token, None
    if config.host not in LOOPBACK:
        raise ConfigError(
            f"ingest serve --host {config.host} can be reached from other machines: give it --token "
            "(or INGEST_SERVE_TOKEN) so that only its clients can start runs"
        )
    path = state_dir(config.run.output_dir) / "serve-token"
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token, str(path)


def serve(config: ServeConfig, listening: Callable[[], None]) -> None:
    """Serve until interrupted (Ctrl-C, or SIGTERM as a service manager stops it), calling ``listening`` once the
    port is bound (OSError when it cannot be); a run going on at the end is stopped (what it finished is kept, the
    next run does the rest)."""
    import waitress

    from ingest.service.app import create_app
    from ingest.service.scheduler import Scheduler

    scheduler = Scheduler(config)
    server = waitress.create_server(
        create_app(config, scheduler), host=config.host, port=config.port, threads=8, ident="ingest"
    )
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # KeyboardInterrupt, as Ctrl-C
    listening()
    scheduler.start()
    try:
        server.run()
    finally:
        scheduler.stop()

"""Start the web application with uvicorn (`parcours serve`).

Bound to 127.0.0.1 unless told otherwise; any other address is refused unless an access
password's hash is configured (`engine.web.security.configured_hash`). The access log
keeps the method, the path without its query string and the status: no edit values and
no identifier of a person (no page address carries one).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from engine.web.security import PASSWORD_ENV, PASSWORD_FILE_ENV, configured_hash

#: The names a loopback server answers to (its `Host` header without the port).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


class _NoQuery(logging.Filter):
    """Drop the query string from uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def serve(data: Path | str, *, as_of: date | None = None, rules: Path | str | None = None,
          host: str = "127.0.0.1", port: int = 8000, say: Callable[..., Any] = print,
          fail: Callable[..., Any] = print, register: str | None = None) -> None:
    """Read the rules and extracts, then serve the application until interrupted.

    `register`: the run register the « Historique » pages read (a file or a URL), else
    $PARCOURS_REGISTER, else `registre.sqlite` beside the data, as the CLI's `--record`.
    """
    import uvicorn

    from engine.register.db import register_url
    from engine.web.app import create_app
    from engine.web.service import Service

    exposed = not is_loopback(host)
    password_hash = configured_hash()
    if exposed and not password_hash:
        fail(f"[bold red]Erreur[/] : l'adresse {host} ouvre l'application au réseau ; définissez d'abord"
             f" un mot de passe d'accès (son empreinte dans la variable {PASSWORD_ENV}, ou dans le fichier"
             f" nommé par {PASSWORD_FILE_ENV} ; « python -m engine.web.security » la calcule).",
             )
        raise SystemExit(1)
    say("Lecture des règles et des extraits…")
    service = Service(data, rules, as_of)
    hosts = None if exposed else LOOPBACK_NAMES | {host.strip().lower()}
    app = create_app(service, exposed=exposed, password_hash=password_hash, hosts=hosts,
                     register=register_url(register, Path(data)))
    shown = f"[{host}]" if ":" in host else host
    say(f"Application ouverte sur http://{shown}:{port}/ (évaluation au "
        f"{service.default_as_of.strftime('%d/%m/%Y')}). Ctrl+C pour arrêter.")
    logging.getLogger("uvicorn.access").addFilter(_NoQuery())
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, proxy_headers=False)

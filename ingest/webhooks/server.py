"""Serving the application with uvicorn, and what must hold before it may listen."""

from __future__ import annotations

import ipaddress

import uvicorn

from countonce.settings import Settings
from ingest.webhooks.app import create_app


class ServeRefused(ValueError):
    """The server will not start as configured; the message says what to change."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, host: str, insecure_no_auth: bool) -> None:
    """Signed requests only, unless unsigned ones are asked for and only this machine listens."""
    if insecure_no_auth:
        if settings.webhook_secrets:
            raise ServeRefused(
                "--insecure-no-auth was given while COUNTONCE_WEBHOOK_SECRETS is set; drop one"
            )
        if not is_loopback(host):
            raise ServeRefused(f"--insecure-no-auth listens on a loopback address only, not {host}")
    elif not settings.webhook_secrets:
        raise ServeRefused(
            "no webhook secret configured: set COUNTONCE_WEBHOOK_SECRETS to one or more "
            "whsec_... secrets (or try it unsigned on 127.0.0.1 with --insecure-no-auth)"
        )


def make_server(
    settings: Settings,
    params: dict[str, str],
    host: str,
    port: int,
    insecure_no_auth: bool = False,
) -> uvicorn.Server:
    """A uvicorn server for the application, not yet running; raises ServeRefused."""
    check_exposure(settings, host, insecure_no_auth)
    try:
        app = create_app(settings, params, insecure_no_auth=insecure_no_auth)
    except ValueError as exc:
        raise ServeRefused(f"COUNTONCE_WEBHOOK_SECRETS: {exc}") from None
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # countonce's logging, configured at the entry point
        access_log=False,
        server_header=False,
        lifespan="on",
        # In-flight requests may wait this long for their commit before shutdown goes on.
        timeout_graceful_shutdown=settings.webhook_commit_timeout_seconds + 1,
    )
    return uvicorn.Server(config)


def serve(
    settings: Settings,
    params: dict[str, str],
    host: str = "127.0.0.1",
    port: int = 8000,
    insecure_no_auth: bool = False,
) -> None:
    """Serve until SIGINT or SIGTERM; requests in flight are answered first."""
    make_server(settings, params, host, port, insecure_no_auth).run()

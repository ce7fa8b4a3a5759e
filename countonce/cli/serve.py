"""`countonce serve`: the webhook endpoint."""

from __future__ import annotations

import click

from countonce.cli.context import Context, pass_ctx


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port."
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Accept unsigned requests; only with no secret set and a loopback --host.",
)
@pass_ctx
def serve_command(ctx: Context, host: str, port: int, insecure_no_auth: bool) -> None:
    """Receive order events over HTTP: POST /v1/events, signed with Standard Webhooks.

    The body is one event object, a JSON array of events, or NDJSON. A request is answered
    200 only once its events are committed in raw.order_events. Secrets come from
    COUNTONCE_WEBHOOK_SECRETS. Also GET /healthz, /readyz and /metrics (Prometheus).
    """
    ctx.postgres_only("serve")
    from ingest.webhooks.server import ServeRefused, check_exposure, serve

    try:
        check_exposure(ctx.settings, host, insecure_no_auth)  # before any database is started
        serve(ctx.settings, ctx.params, host, port, insecure_no_auth)
    except ServeRefused as exc:
        raise click.ClickException(str(exc)) from None

"""`countonce demo`: the traced example and a generated stream, end to end."""

from __future__ import annotations

import logging

import click

from countonce.cli.context import Context, pass_ctx


@click.command("demo")
@pass_ctx
def demo_command(ctx: Context) -> None:
    """Play the traced example and a generated stream on a fresh database; print what happened."""
    from countonce.demo import run_demo

    ctx.postgres_only("demo")
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger().setLevel(logging.WARNING)  # the demo's own lines tell the story
    if not run_demo(ctx.settings, click.echo):
        raise click.ClickException("the demo's figures are not what they should be (see above)")

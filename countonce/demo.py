"""`countonce demo`: the traced example and a small generated stream, end to end."""

import click


@click.command("demo")
def demo_command() -> None:
    """Play the traced example on a fresh embedded database and print what happened."""
    raise click.ClickException("not built yet")

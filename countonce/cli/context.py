"""What every command shares: the settings, and where the database is."""

from __future__ import annotations

import click

from countonce import db
from countonce.settings import Settings, load_settings


class Context:
    def __init__(self) -> None:
        self.settings: Settings = load_settings()
        self._params: dict[str, str] | None = None

    @property
    def params(self) -> dict[str, str]:
        """Connection parameters: a --database given to the command, else the configured
        database (starting the embedded one when nothing is configured); none on Spark."""
        if self._params is None:
            self._params = {} if self.settings.on_spark else db.connection_params(self.settings)
        return self._params

    def postgres_only(self, command: str, instead: str = "") -> None:
        if self.settings.on_spark:
            raise click.ClickException(
                f"`countonce {command}` works on PostgreSQL only (COUNTONCE_TARGET=postgres)"
                + (f"; {instead}" if instead else "")
            )

    def use_database(self, dsn: str | None) -> None:
        if dsn:
            try:
                self._params = db.params_from_dsn(dsn)
            except db.DatabaseUnavailable as exc:  # a malformed DSN: a usage error
                raise click.BadParameter(str(exc), param_hint="--database") from None


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def database_option(command):
    """--database DSN: point a reading command at any PostgreSQL."""
    return click.option(
        "--database",
        "dsn",
        metavar="DSN",
        default=None,
        help="A libpq connection string or postgresql:// URL (default: the configured database).",
    )(command)

"""Every setting of the Python side of countonce, read from the environment in this one place.

Each setting has its default here and nowhere else. The data rules' parameters (the lookback
of late duplicates, the future margin of event times, the landing-age bound) are dbt vars,
with their defaults in dbt_project/dbt_project.yml, so an analyst's `dbt build` applies the
same values as the scheduler; dbt reads their COUNTONCE_* variables itself.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

LIBPQ_VARIABLES = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")
# libpq's (and so dbt-postgres's) application_name: how a run finds its own backends.
APPLICATION_NAME_VARIABLE = "PGAPPNAME"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _whole(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(
            f"{name}={raw!r} is not a whole number; set it to one or unset it"
        ) from None


def _decimal(name: str, raw: str) -> Decimal:
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise SystemExit(
            f"{name}={raw!r} is not a decimal number; set it to one or unset it"
        ) from None


def _flag(name: str, raw: str) -> bool:
    return raw.lower() in ("1", "true", "yes")


def _text(name: str, raw: str) -> str:
    return raw


TARGETS = ("postgres", "spark")


def _target(name: str, raw: str) -> str:
    if raw not in TARGETS:
        raise SystemExit(f"{name}={raw!r}: expected one of {', '.join(TARGETS)}")
    return raw


def _words(name: str, raw: str) -> tuple[str, ...]:
    return tuple(raw.split())


def _env(name: str, parse: Callable[[str, str], object] = _text) -> dict[str, object]:
    """Field metadata: the variable a setting is read from, and how its text is parsed."""
    return {"env": name, "parse": parse}


@dataclass(frozen=True)
class Settings:
    # The engine: postgres (the default; the database below) or spark (local mode, under
    # spark_dir; dbt_project/profiles.yml's spark target).
    target: str = field(default="postgres", metadata=_env("COUNTONCE_TARGET", _target))
    database_url: str | None = field(default=None, metadata=_env("COUNTONCE_DATABASE_URL"))
    libpq: dict[str, str] = field(default_factory=dict)
    home: Path = field(default_factory=lambda: Path.cwd() / ".countonce")
    # Default: home / "inbox"
    inbox: Path | None = field(default=None, metadata=_env("COUNTONCE_INBOX", lambda n, r: Path(r)))
    dbt_project_dir: Path = field(
        default=PROJECT_ROOT / "dbt_project",
        metadata=_env("COUNTONCE_DBT_PROJECT_DIR", lambda n, r: Path(r)),
    )
    # Fault injection for tests: end the loader at a named point (ingest/loader.py).
    fail_at: str | None = field(default=None, metadata=_env("COUNTONCE_FAIL_AT"))
    max_line_bytes: int = field(
        default=1024 * 1024, metadata=_env("COUNTONCE_MAX_LINE_BYTES", _whole)
    )
    reject_text_bytes: int = field(
        default=4096, metadata=_env("COUNTONCE_REJECT_TEXT_BYTES", _whole)
    )
    copy_chunk_rows: int = field(
        default=100_000, metadata=_env("COUNTONCE_COPY_CHUNK_ROWS", _whole)
    )
    # A file in the inbox whose last line has no newline yet may still be being written:
    # that line waits until the file has been this quiet.
    settle_seconds: int = field(default=5, metadata=_env("COUNTONCE_SETTLE_SECONDS", _whole))
    schedule_every_seconds: int | None = field(
        default=None, metadata=_env("COUNTONCE_SCHEDULE_EVERY", _whole)
    )
    schedule_cron: str | None = field(default=None, metadata=_env("COUNTONCE_SCHEDULE_CRON"))
    log_json: bool = field(default=False, metadata=_env("COUNTONCE_LOG_JSON", _flag))
    dq_max_reject_rate: Decimal = field(
        default=Decimal("0.05"), metadata=_env("COUNTONCE_DQ_MAX_REJECT_RATE", _decimal)
    )
    # A gap in a producer's sequence open past its grace (the dbt var gap_grace_minutes) fails
    # the run instead of warning.
    gaps_critical: bool = field(default=False, metadata=_env("COUNTONCE_GAPS_CRITICAL", _flag))
    # Passwords of the least-privilege roles (`countonce db roles`); None: no password set.
    loader_password: str | None = field(
        default=None, repr=False, metadata=_env("COUNTONCE_LOADER_PASSWORD")
    )
    transformer_password: str | None = field(
        default=None, repr=False, metadata=_env("COUNTONCE_TRANSFORMER_PASSWORD")
    )
    analyst_password: str | None = field(
        default=None, repr=False, metadata=_env("COUNTONCE_ANALYST_PASSWORD")
    )
    # The webhook endpoint (`countonce serve`): Standard Webhooks secrets (whsec_..., several
    # while one is rotated), limits per request and per client, and how long it waits.
    webhook_secrets: tuple[str, ...] = field(
        default=(),
        repr=False,
        metadata=_env("COUNTONCE_WEBHOOK_SECRETS", lambda n, r: tuple(r.split())),
    )
    webhook_max_body_bytes: int = field(
        default=1024 * 1024, metadata=_env("COUNTONCE_WEBHOOK_MAX_BODY_BYTES", _whole)
    )
    webhook_max_events: int = field(
        default=10_000, metadata=_env("COUNTONCE_WEBHOOK_MAX_EVENTS", _whole)
    )
    # Requests a second per client address; 0: no limit.
    webhook_rate_limit: int = field(
        default=200, metadata=_env("COUNTONCE_WEBHOOK_RATE_LIMIT", _whole)
    )
    webhook_batch_wait_ms: int = field(
        default=5, metadata=_env("COUNTONCE_WEBHOOK_BATCH_WAIT_MS", _whole)
    )
    webhook_body_timeout_seconds: int = field(
        default=10, metadata=_env("COUNTONCE_WEBHOOK_BODY_TIMEOUT_SECONDS", _whole)
    )
    webhook_commit_timeout_seconds: int = field(
        default=10, metadata=_env("COUNTONCE_WEBHOOK_COMMIT_TIMEOUT_SECONDS", _whole)
    )

    # The environment variables the dbt project reads (env_var in dbt_project.yml) and their
    # values: a batch run rebuilds every model when they change.
    dbt_environment: dict[str, str] = field(default_factory=dict)

    # Spark's warehouse, metastore and landing files (default: home / "spark").
    spark_dir: Path | None = field(
        default=None, metadata=_env("COUNTONCE_SPARK_DIR", lambda n, r: Path(r).resolve())
    )

    def __post_init__(self) -> None:
        if self.inbox is None:
            object.__setattr__(self, "inbox", self.home / "inbox")
        if self.spark_dir is None:
            object.__setattr__(self, "spark_dir", self.home / "spark")

    @property
    def on_spark(self) -> bool:
        return self.target == "spark"

    @property
    def embedded(self) -> bool:
        return self.database_url is None and not self.libpq

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def site_dir(self) -> Path:
        """What the static server publishes: Data Docs, dbt docs, the report."""
        return self.home / "site"

    @property
    def data_docs_dir(self) -> Path:
        return self.site_dir / "data_docs"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    values: dict[str, object] = {
        "libpq": {name: env[name] for name in LIBPQ_VARIABLES if env.get(name)},
    }
    if env.get("COUNTONCE_HOME"):
        values["home"] = Path(env["COUNTONCE_HOME"]).resolve()
    for setting in dataclasses.fields(Settings):
        name = setting.metadata.get("env")
        if name and env.get(name):
            values[setting.name] = setting.metadata["parse"](name, env[name])
    project = values.get("dbt_project_dir", PROJECT_ROOT / "dbt_project")
    values["dbt_environment"] = {name: env[name] for name in _dbt_variables(project) if name in env}
    return Settings(**values)


def _dbt_variables(project: Path) -> list[str]:
    try:
        text = (project / "dbt_project.yml").read_text()
    except OSError:
        return []
    return sorted(set(re.findall(r"env_var\(\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]", text)))


def export_libpq(params: dict[str, str], application_name: str | None = None) -> None:
    """Expose connection parameters as libpq variables, which dbt's profile and GX read."""
    for name in (*LIBPQ_VARIABLES, APPLICATION_NAME_VARIABLE):
        os.environ.pop(name, None)
    for name, value in libpq_variables(params).items():
        os.environ[name] = value
    if application_name:
        os.environ[APPLICATION_NAME_VARIABLE] = application_name


def export_spark(settings: Settings) -> None:
    """Where Spark keeps its warehouse, for dbt's profile (COUNTONCE_SPARK_DIR); Spark's own
    local address, so it binds to loopback rather than resolve this host's name."""
    os.environ["COUNTONCE_SPARK_DIR"] = str(settings.spark_dir)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def libpq_variables(params: dict[str, str]) -> dict[str, str]:
    keys = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "dbname": "PGDATABASE",
    }
    return {var: str(params[key]) for key, var in keys.items() if params.get(key)}


def child_environment(overrides: dict[str, str]) -> dict[str, str]:
    """This process's environment without database or countonce settings, plus `overrides`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in LIBPQ_VARIABLES and not k.startswith("COUNTONCE_")
    }
    return {**env, **overrides}

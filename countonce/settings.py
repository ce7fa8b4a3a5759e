"""Every setting of countonce, read from the environment in this one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

LIBPQ_VARIABLES = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(
            f"{name}={raw!r} is not a whole number; set it to one or unset it"
        ) from None


def _decimal(env: dict[str, str], name: str, default: Decimal) -> Decimal:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise SystemExit(
            f"{name}={raw!r} is not a decimal number; set it to one or unset it"
        ) from None


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    libpq: dict[str, str]
    home: Path
    inbox: Path
    dbt_project_dir: Path
    fail_at: str | None
    max_line_bytes: int
    reject_text_bytes: int
    copy_chunk_rows: int
    lookback_minutes: int
    rescan_minutes: int
    future_margin_minutes: int
    schedule_every_seconds: int | None
    schedule_cron: str | None
    log_json: bool
    # A growing file's unterminated last line is read only once the file has been this quiet.
    settle_seconds: int = 5
    dq_max_reject_rate: Decimal = Decimal("0.05")
    dq_max_landing_age_minutes: int = 1440
    # Passwords of the least-privilege roles (`countonce db roles`); None: no password set.
    loader_password: str | None = field(default=None, repr=False)
    transformer_password: str | None = field(default=None, repr=False)
    analyst_password: str | None = field(default=None, repr=False)
    # The webhook endpoint (`countonce serve`): Standard Webhooks secrets (whsec_..., several
    # while one is rotated), limits per request and per client, and how long it waits.
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    webhook_max_body_bytes: int = 1024 * 1024
    webhook_max_events: int = 10_000
    webhook_rate_limit: int = 200  # requests a second per client address; 0: no limit
    webhook_batch_wait_ms: int = 5
    webhook_body_timeout_seconds: int = 10
    webhook_commit_timeout_seconds: int = 10

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
    home = Path(env.get("COUNTONCE_HOME") or Path.cwd() / ".countonce").resolve()
    every = env.get("COUNTONCE_SCHEDULE_EVERY")
    return Settings(
        database_url=env.get("COUNTONCE_DATABASE_URL") or None,
        libpq={name: env[name] for name in LIBPQ_VARIABLES if env.get(name)},
        home=home,
        inbox=Path(env.get("COUNTONCE_INBOX") or home / "inbox"),
        dbt_project_dir=Path(env.get("COUNTONCE_DBT_PROJECT_DIR") or PROJECT_ROOT / "dbt_project"),
        fail_at=env.get("COUNTONCE_FAIL_AT") or None,
        max_line_bytes=_int(env, "COUNTONCE_MAX_LINE_BYTES", 1024 * 1024),
        reject_text_bytes=_int(env, "COUNTONCE_REJECT_TEXT_BYTES", 4096),
        copy_chunk_rows=_int(env, "COUNTONCE_COPY_CHUNK_ROWS", 100_000),
        lookback_minutes=_int(env, "COUNTONCE_LOOKBACK_MINUTES", 10),
        rescan_minutes=_int(env, "COUNTONCE_RESCAN_MINUTES", 0),
        future_margin_minutes=_int(env, "COUNTONCE_FUTURE_MARGIN_MINUTES", 10),
        schedule_every_seconds=int(every) if every else None,
        schedule_cron=env.get("COUNTONCE_SCHEDULE_CRON") or None,
        log_json=env.get("COUNTONCE_LOG_JSON", "").lower() in ("1", "true", "yes"),
        settle_seconds=_int(env, "COUNTONCE_SETTLE_SECONDS", 5),
        dq_max_reject_rate=_decimal(env, "COUNTONCE_DQ_MAX_REJECT_RATE", Decimal("0.05")),
        dq_max_landing_age_minutes=_int(env, "COUNTONCE_DQ_MAX_LANDING_AGE_MINUTES", 1440),
        loader_password=env.get("COUNTONCE_LOADER_PASSWORD") or None,
        transformer_password=env.get("COUNTONCE_TRANSFORMER_PASSWORD") or None,
        analyst_password=env.get("COUNTONCE_ANALYST_PASSWORD") or None,
        webhook_secrets=tuple(env.get("COUNTONCE_WEBHOOK_SECRETS", "").split()),
        webhook_max_body_bytes=_int(env, "COUNTONCE_WEBHOOK_MAX_BODY_BYTES", 1024 * 1024),
        webhook_max_events=_int(env, "COUNTONCE_WEBHOOK_MAX_EVENTS", 10_000),
        webhook_rate_limit=_int(env, "COUNTONCE_WEBHOOK_RATE_LIMIT", 200),
        webhook_batch_wait_ms=_int(env, "COUNTONCE_WEBHOOK_BATCH_WAIT_MS", 5),
        webhook_body_timeout_seconds=_int(env, "COUNTONCE_WEBHOOK_BODY_TIMEOUT_SECONDS", 10),
        webhook_commit_timeout_seconds=_int(env, "COUNTONCE_WEBHOOK_COMMIT_TIMEOUT_SECONDS", 10),
    )


def export_libpq(params: dict[str, str]) -> None:
    """Expose connection parameters as libpq variables, which dbt's profile and GX read."""
    for name in LIBPQ_VARIABLES:
        os.environ.pop(name, None)
    for name, value in libpq_variables(params).items():
        os.environ[name] = value


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

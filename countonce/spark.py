"""Apache Spark in local mode, in this process: the session the Python side shares with dbt.

Its configuration has one home, the spark target of dbt_project/profiles.yml
(server_side_parameters): read from there, with its env_var() placeholders filled the way
dbt fills them. The session made here first is the one dbt's session method then finds
(SparkSession.builder.getOrCreate), so both see one warehouse and one metastore.
"""

from __future__ import annotations

import logging
import re
from functools import cache

import yaml

from countonce.settings import Settings, export_spark

log = logging.getLogger(__name__)

_ENV_VAR = re.compile(r"\{\{\s*env_var\(\s*'([A-Z_]+)'\s*(?:,\s*'([^']*)'\s*)?\)\s*\}\}")


def session_config(settings: Settings) -> dict[str, str]:
    """The spark target's server_side_parameters, placeholders filled."""
    profile = yaml.safe_load((settings.dbt_project_dir / "profiles.yml").read_text())
    parameters = profile["countonce"]["outputs"]["spark"]["server_side_parameters"]
    values = {"COUNTONCE_SPARK_DIR": str(settings.spark_dir)}
    return {
        key: _ENV_VAR.sub(lambda m: values.get(m[1], m[2] or ""), str(value))
        for key, value in parameters.items()
    }


@cache
def _session(items: tuple[tuple[str, str], ...]):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.enableHiveSupport()
    for key, value in items:
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    log.info("spark session started", extra={"master": spark.sparkContext.master})
    return spark


def session(settings: Settings):
    """This process's SparkSession (started on first use, a few seconds)."""
    export_spark(settings)  # for dbt's profile, in this process
    settings.spark_dir.mkdir(parents=True, exist_ok=True)
    return _session(tuple(sorted(session_config(settings).items())))


def refresh_landing(session, settings: Settings) -> None:
    """Read again the files of the tables written outside Spark (the loader's, the runs')."""
    from countonce import spark_tables

    for table in spark_tables.SCHEMAS:
        if session.catalog.tableExists(table):
            session.catalog.refreshTable(table)

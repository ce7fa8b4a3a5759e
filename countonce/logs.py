"""Logging configured once, at the entry point: structured lines on stderr."""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings

_STANDARD = set(vars(logging.makeLogRecord({})))


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and k != "message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{stamp} {record.levelname.lower():7} {record.name}: {record.getMessage()}"
        line = f"{line} {extras}" if extras else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def is_json(logger: logging.Logger) -> bool:
    """Whether the logger writes JSON lines (what a child process is configured with)."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers)


def configure(json_lines: bool = False, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pyspark (imported by Great Expectations) warns on every import under pandas 3, which
    # countonce's own use of Spark (pyarrow landing, SQL, GX's Spark data source) is tested on.
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    for noisy in ("pgserver", "great_expectations", "apscheduler.executors", "urllib3", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

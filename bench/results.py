"""bench/results.json: every benchmark's figures from one `make bench`, with the machine."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def machine() -> dict[str, object]:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 1024**3, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def record(section: str, figures: object) -> None:
    """Store one benchmark's figures under `section`, keeping the others."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data["machine"] = machine()
    data[section] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "figures": figures,
    }
    RESULTS.write_text(json.dumps(data, indent=2, default=str) + "\n")

"""Each speed trick of countonce/runtime.py measured side by side with its absence, in one run:
one-shot `countonce run`s (cold) and a long-running scheduler's batches (warm), the variants
alternating, each batch 10k events of a stream (bench_pipeline.Stream). A variant without a
trick replaces it with a stand-in that does nothing (or runs the checks in the same process).

    .venv/bin/python -m bench.bench_runtime --repeat 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_pipeline import REPO, Stream
from bench.results import record
from countonce import db
from countonce.settings import LIBPQ_VARIABLES, load_settings

# Python run before the command line, to take one trick away.
WITHOUT = {
    "all tricks": "",
    "no prepared checks process": """
import countonce.runtime as r
class InProcess:
    def __init__(self, initializer, *args): pass
    def call(self, function, *args): return function(*args)
    def close(self): pass
    def __enter__(self): return self
    def __exit__(self, *exc): pass
r.Prepared = InProcess
""",
    "collector on": "import countonce.runtime as r; r.one_batch = lambda: None",
}
WARM_WITHOUT = {
    "all tricks": "",
    "no freeze": "import countonce.runtime as r; r.after_imports = r.after_parse = lambda: None",
    "dbt file log at debug": "import scheduler.stages as s; s.DBT_BUILD_ARGS[:] = "
    "[a for a in s.DBT_BUILD_ARGS if a not in ('--log-level-file', 'info')]",
}

# Each runs as a script, as the console script runs (see countonce/__main__.py); a spawned
# child re-imports it as __mp_main__.
COLD = """{patch}
import sys
from countonce.cli import main
if __name__ == "__main__":
    sys.argv = ["countonce", "run", "--json"]
    main()
"""

WARM = """{patch}
import json, sys, time
from pathlib import Path
from countonce import logs
from countonce.settings import load_settings
from countonce import db
from bench.bench_pipeline import Stream
from scheduler.pipeline import run_batch
from scheduler.stages import warm_up


def batches(state, repeat):
    logs.configure(level=30)
    settings = load_settings()
    params = db.connection_params(settings)
    stream = Stream.resume(state)
    warm_up()
    times = []
    for i in range(repeat + 1):
        stream.write_batch(settings.inbox, f"warm{{time.time_ns()}}", 10000)
        started = time.perf_counter()
        record = run_batch(settings, params, trigger="schedule")
        assert record.status == "succeeded", record.error
        times.append(time.perf_counter() - started)
        stream.save(state)
    return times[1:]


if __name__ == "__main__":
    print(json.dumps(batches(Path(sys.argv[1]), int(sys.argv[2]))))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="countonce-runtime-") as home:
        env = {k: v for k, v in os.environ.items() if k not in LIBPQ_VARIABLES}
        env = {k: v for k, v in env.items() if not k.startswith("COUNTONCE_")}
        env.update(COUNTONCE_HOME=home, PYTHONPATH=str(REPO))
        settings = load_settings(env)
        params = db.connection_params(settings)
        env["COUNTONCE_DATABASE_URL"] = " ".join(f"{k}={v}" for k, v in params.items())
        state = Path(home) / "stream.json"
        Stream(batches=200).save(state)
        scripts = {}
        for kind, template, variants in (("cold", COLD, WITHOUT), ("warm", WARM, WARM_WITHOUT)):
            for i, (name, patch) in enumerate(variants.items()):
                scripts[kind, name] = Path(home) / f"{kind}_{i}.py"
                scripts[kind, name].write_text(template.format(patch=patch))
        try:
            cold = {name: [] for name in WITHOUT}
            for _ in range(args.repeat + 1):  # the first round builds every model: left out
                for name in WITHOUT:
                    stream = Stream.resume(state)
                    stream.write_batch(settings.inbox, f"cold{time.time_ns()}", 10000)
                    stream.save(state)
                    started = time.perf_counter()
                    proc = subprocess.run(
                        [sys.executable, str(scripts["cold", name])],
                        env=env,
                        cwd=REPO,
                        capture_output=True,
                    )
                    if proc.returncode != 0:
                        sys.exit(proc.stderr.decode()[-2000:])
                    cold[name].append(time.perf_counter() - started)
            warm = {name: [] for name in WARM_WITHOUT}
            for _ in range(2):
                for name in WARM_WITHOUT:
                    proc = subprocess.run(
                        [sys.executable, str(scripts["warm", name]), str(state), str(args.repeat)],
                        env=env,
                        cwd=REPO,
                        capture_output=True,
                        text=True,
                    )
                    if proc.returncode != 0:
                        sys.exit(proc.stderr[-2000:])
                    warm[name] += json.loads(proc.stdout.splitlines()[-1])
        finally:
            db.stop_embedded(settings)
    figures = {}
    for label, runs in (("cold", cold), ("warm", warm)):
        base = statistics.median(runs["all tricks"])
        for name, times in runs.items():
            median = statistics.median(times)
            figures[f"{label}: {name}"] = {"median_seconds": round(median, 3), "runs": times}
            print(f"{label} {name:28} median {median:6.2f} s ({median - base:+.2f} s)")
    record("runtime", figures)


if __name__ == "__main__":
    main()

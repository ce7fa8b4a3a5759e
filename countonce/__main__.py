"""`python -m countonce`, run the way a script is run.

A package's __main__ is not re-imported in a spawned child, whose own __main__ then has no
file; pyspark (imported by Great Expectations) takes such a process for its doctest runner
and exits it, which kills the prepared checks process (countonce/runtime.py). Run as a
script, the command gives its children a main module with a file, as the console script does.
"""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).with_name("command.py")), run_name="__main__")

"""The speed tricks that pay their way, each with the figure that keeps it: medians of
`python -m bench.bench_runtime --repeat 2`, which times each with and without it side by side
in one run (10k-event batches; 2-core VM). Only public APIs of CPython and dbt.
"""

from __future__ import annotations

import gc

# dbt's file log at info (node starts, results, errors) rather than debug (every statement's
# SQL, written by both threads through one locked handler): a warm batch 1.82 s, 2.02 s at debug.
DBT_LOG_ARGS = ["--log-level-file", "info"]


def after_imports() -> None:
    """In a long-running process, put everything alive now (dbt's and Great Expectations'
    modules) out of the cyclic collector's reach: a full collection otherwise walks millions
    of long-lived objects on every other batch (a warm batch 1.82 s, 1.98 s unfrozen)."""
    _freeze()


def after_parse() -> None:
    """The same for a newly parsed dbt manifest; unfrozen first so that the manifest it
    replaces is collected, not kept for good."""
    _freeze()


def one_batch() -> None:
    """A process that runs one batch and exits collects nothing: the cycles it leaves behind
    cost less memory than the collections cost time (a cold run 6.78 s, 7.46 s collecting)."""
    gc.disable()


def _freeze() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class Prepared:
    """A second process that has done its slow imports while this one works: a pool of one
    worker whose initializer runs at once (a one-shot `countonce run` imports Great Expectations
    and builds its context there while the batch loads and builds, on the other core: a cold
    run 6.78 s, 11.07 s with its checks in the same process). call() runs a function in it;
    close() ends it at once."""

    def __init__(self, initializer, *initargs: object) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._pool = context.Pool(1, initializer=initializer, initargs=initargs)

    def call(self, function, *args: object):
        return self._pool.apply_async(function, args).get()

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()

    def __enter__(self) -> Prepared:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

import gc
import weakref

import pytest

from scheduler import collector


class Node:
    """A cycle: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def restored_collector():
    yield
    gc.unfreeze()
    gc.enable()


def test_long_lived_objects_are_frozen_and_a_replaced_one_is_still_collected(
    restored_collector,
):
    kept = Node()
    collector.keep_long_lived()
    assert gc.get_freeze_count() > 0

    replaced = weakref.ref(kept)
    del kept
    gc.collect()
    assert replaced() is not None  # frozen: a full collection leaves it alone

    collector.keep_long_lived()
    assert replaced() is None  # the next call unfreezes first, so the dropped cycle goes


def test_a_one_batch_process_turns_the_collector_off(restored_collector):
    collector.off_for_one_batch()
    assert not gc.isenabled()

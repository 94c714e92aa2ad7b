"""Start-up objects set aside from the garbage collector, and given back."""

from __future__ import annotations

import gc
import weakref

from wanbot import heap


class Node:
    def __init__(self) -> None:
        self.peer: Node | None = None


def test_what_is_alive_is_frozen_and_given_back() -> None:
    alive = Node()
    alive.peer = Node()
    try:
        frozen = heap.set_aside()
        assert frozen >= 2 and gc.get_freeze_count() == frozen
        tracked = {id(o) for o in gc.get_objects()}
        assert id(alive) not in tracked and id(alive.peer) not in tracked
        made_later = Node()
        assert id(made_later) in {id(o) for o in gc.get_objects()}
    finally:
        heap.give_back()
    assert gc.get_freeze_count() == 0
    assert id(alive) in {id(o) for o in gc.get_objects()}


def test_startup_garbage_is_collected_not_frozen() -> None:
    cycle = Node()
    cycle.peer = Node()
    cycle.peer.peer = cycle
    gone = weakref.ref(cycle)
    del cycle
    gc.disable()  # only set_aside may collect it
    try:
        assert gone() is not None
        heap.set_aside()
        assert gone() is None
    finally:
        heap.give_back()
        gc.enable()

"""Start-up objects set aside from the garbage collector, and given back."""

from __future__ import annotations

import gc
import weakref

from wanbot import heap


class Node:
    def __init__(self) -> None:
        self.peer: Node | None = None


def test_what_is_alive_is_frozen_once_and_given_back() -> None:
    alive = Node()
    alive.peer = Node()
    try:
        assert heap.set_aside()
        assert gc.get_freeze_count() >= 2
        tracked = {id(o) for o in gc.get_objects()}
        assert id(alive) not in tracked and id(alive.peer) not in tracked
        made_later = Node()
        assert id(made_later) in {id(o) for o in gc.get_objects()}
        assert not heap.set_aside()  # frozen already: a second bot in the process leaves it
        assert id(made_later) in {id(o) for o in gc.get_objects()}
    finally:
        heap.give_back()
    assert gc.get_freeze_count() == 0
    assert id(alive) in {id(o) for o in gc.get_objects()}


def test_startup_garbage_is_collected_not_frozen() -> None:
    gc.disable()  # only set_aside may collect the cycle
    try:
        cycle = Node()
        cycle.peer = Node()
        cycle.peer.peer = cycle
        gone = weakref.ref(cycle)
        del cycle
        assert gone() is not None
        assert heap.set_aside()
        assert gone() is None
    finally:
        heap.give_back()
        gc.enable()

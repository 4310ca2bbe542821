"""One completion channel per asyncio event loop, for backends whose ops finish on an I/O thread."""

from __future__ import annotations

import asyncio
import weakref
from typing import Callable

from . import _native

# Weak keys: a loop that is garbage-collected takes its bridge (and the bridge's pipe) with it.
_bridges: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _native.LoopBridge]" = (
    weakref.WeakKeyDictionary()
)


def _scheduler(loop: asyncio.AbstractEventLoop, bridge: _native.LoopBridge) -> Callable[[], None]:
    """schedule() for LoopBridge.set_scheduler: uncork_all() on the loop's next turn. Weak references
    only: a strong one to the loop from its own bridge would keep both alive forever."""
    loop_ref = weakref.ref(loop)
    bridge_ref = weakref.ref(bridge)

    def uncork() -> None:
        b = bridge_ref()
        if b is not None:
            b.uncork_all()

    def schedule() -> None:
        lp = loop_ref()
        if lp is not None:
            lp.call_soon(uncork)

    return schedule


def bridge_for(loop: asyncio.AbstractEventLoop) -> _native.LoopBridge:
    bridge = _bridges.get(loop)
    if bridge is None:
        bridge = _native.LoopBridge()
        # The loop calls drain() when the I/O thread signals a batch; drain() never blocks.
        loop.add_reader(bridge.fileno(), bridge.drain)
        # Ops started in one loop turn are sent together (see LoopBridge::cork_for_turn).
        bridge.set_scheduler(_scheduler(loop, bridge))
        _bridges[loop] = bridge
    return bridge

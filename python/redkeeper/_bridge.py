"""One completion channel per asyncio event loop, for backends whose ops finish on an I/O thread."""

from __future__ import annotations

import asyncio
import weakref

from . import _native

# Weak keys: a loop that is garbage-collected takes its bridge (and the bridge's pipe) with it.
_bridges: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _native.LoopBridge]" = (
    weakref.WeakKeyDictionary()
)


def bridge_for(loop: asyncio.AbstractEventLoop) -> _native.LoopBridge:
    bridge = _bridges.get(loop)
    if bridge is None:
        bridge = _native.LoopBridge()
        # The loop calls drain() when the I/O thread signals a batch; drain() never blocks.
        loop.add_reader(bridge.fileno(), bridge.drain)
        _bridges[loop] = bridge
    return bridge

// ManualClock: a time source tests move by hand; inject it with connect('memory://', { clock }).
'use strict';

const native = require('./native');

const kNative = Symbol('redkeeper.nativeClock');

class ManualClock {
  constructor(startMs) {
    this[kNative] = new native.NativeClock(startMs);
  }

  advance(ms) {
    this[kNative].advance(ms);
    return this;
  }

  set(ms) {
    this[kNative].set(ms);
    return this;
  }

  get nowMs() {
    return this[kNative].nowMs();
  }
}

module.exports = { ManualClock, kNative };

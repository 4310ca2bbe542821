// The core's limits on a limiter's configuration (core/src/limiter/limiter_math.hpp), needed to size
// RedkeeperStore's counting window: limit <= 1e9 and limit * window_ms <= 2^52.
'use strict';

module.exports = { kMaxLimit: 1000000000, kMaxLimitTimesWindow: 2 ** 52 };

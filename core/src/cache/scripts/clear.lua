-- Cache clear: KEYS[1] = namespace key. A new generation makes every older key unreachable at
-- once (no scan); the old keys go away on their own TTLs. Returns the new generation.
return redis.call('INCR', KEYS[1])

-- Cache get: KEYS[1] = the namespace key (holds the generation); ARGV[1] = the user key.
-- Reads the generation and the value in one script, so a clear() is never half-seen.
local gen = redis.call('GET', KEYS[1]) or '0'
return redis.call('GET', KEYS[1] .. ':' .. gen .. ':v:' .. ARGV[1])

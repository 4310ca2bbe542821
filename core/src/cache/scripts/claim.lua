-- get_or_set, first step: KEYS[1] = namespace key; ARGV = key, token, lock_ms.
-- {1, value}: hit. {2, gen}: the caller now holds the fill marker and runs the loader.
-- {3, gen, marker_pttl}: another caller holds the marker; wait for its fill/fail message.
local gen = redis.call('GET', KEYS[1]) or '0'
local base = KEYS[1] .. ':' .. gen
local v = redis.call('GET', base .. ':v:' .. ARGV[1])
if v then return {1, v} end
local f = base .. ':f:' .. ARGV[1]
if redis.call('SET', f, ARGV[2], 'PX', ARGV[3], 'NX') then return {2, gen} end
return {3, gen, redis.call('PTTL', f)}

-- get_or_set waiter's re-check: KEYS[1] = namespace key; ARGV = key, gen (from the claim).
-- {1, value}: filled. {3, marker_pttl}: still being filled. {0}: neither (the filler failed or
-- vanished, or the namespace was cleared): claim again.
local base = KEYS[1] .. ':' .. ARGV[2]
local v = redis.call('GET', base .. ':v:' .. ARGV[1])
if v then return {1, v} end
local left = redis.call('PTTL', base .. ':f:' .. ARGV[1])
if left > 0 then return {3, left} end
return {0}

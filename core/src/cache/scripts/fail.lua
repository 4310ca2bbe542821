-- get_or_set, loader failed: KEYS[1] = namespace key; ARGV = key, token, gen, message.
-- Nothing is cached; the marker is dropped if still ours and the error goes to every waiter.
local base = KEYS[1] .. ':' .. ARGV[3]
local f = base .. ':f:' .. ARGV[1]
if redis.call('GET', f) == ARGV[2] then redis.call('DEL', f) end
redis.call('PUBLISH', KEYS[1] .. ':ch', 'e' .. ARGV[3] .. ':' .. #ARGV[1] .. ':' .. ARGV[1] .. ARGV[4])
return 1

-- get_or_set, loader failed or gave nothing to cache: KEYS[1] = namespace key; ARGV = key, token,
-- gen, message, kind. Nothing is cached; the marker is dropped if still ours. kind 'e' sends the
-- error to every waiter; kind 'r' (release) tells them to claim again and load for themselves.
local base = KEYS[1] .. ':' .. ARGV[3]
local f = base .. ':f:' .. ARGV[1]
if redis.call('GET', f) == ARGV[2] then redis.call('DEL', f) end
redis.call('PUBLISH', KEYS[1] .. ':ch', ARGV[5] .. ARGV[3] .. ':' .. #ARGV[1] .. ':' .. ARGV[1] .. ARGV[4])
return 1

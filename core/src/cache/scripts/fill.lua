-- get_or_set, loader done: KEYS[1] = namespace key; ARGV = key, token, gen, encoded value, ttl_ms,
-- tag... Stores under the generation the claim saw (a clear() during the load discards the value),
-- drops the marker if still ours, and publishes the value to waiters in every process.
local base = KEYS[1] .. ':' .. ARGV[3]
local ttl = tonumber(ARGV[5])
redis.call('SET', base .. ':v:' .. ARGV[1], ARGV[4], 'PX', ttl)
for i = 6, #ARGV do
  local t = base .. ':t:' .. ARGV[i]
  redis.call('SADD', t, ARGV[1])
  local left = redis.call('PTTL', t)
  if left == -1 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', t, ttl) end
end
local f = base .. ':f:' .. ARGV[1]
if redis.call('GET', f) == ARGV[2] then redis.call('DEL', f) end
redis.call('PUBLISH', KEYS[1] .. ':ch', 'f' .. ARGV[3] .. ':' .. #ARGV[1] .. ':' .. ARGV[1] .. ARGV[4])
return 1

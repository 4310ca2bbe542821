-- Cache set: KEYS[1] = namespace key; ARGV = key, encoded value, ttl_ms, tag...
-- Every tag set lives in the namespace's slot and expires no earlier than its longest-lived member.
local gen = redis.call('GET', KEYS[1]) or '0'
local base = KEYS[1] .. ':' .. gen
local ttl = tonumber(ARGV[3])
redis.call('SET', base .. ':v:' .. ARGV[1], ARGV[2], 'PX', ttl)
for i = 4, #ARGV do
  local t = base .. ':t:' .. ARGV[i]
  redis.call('SADD', t, ARGV[1])
  local left = redis.call('PTTL', t)
  if left == -1 or (left >= 0 and left < ttl) then redis.call('PEXPIRE', t, ttl) end
end
return 1

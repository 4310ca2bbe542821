-- Cache counter: KEYS[1] = namespace key; ARGV = key, delta, ttl_ms. The TTL is set when the
-- counter is created (a counter never lives without one); later increments keep it.
-- A key holding a non-counter value answers an error reply starting with NOTCOUNTER.
local gen = redis.call('GET', KEYS[1]) or '0'
local k = KEYS[1] .. ':' .. gen .. ':v:' .. ARGV[1]
local r = redis.pcall('INCRBY', k, ARGV[2])
if type(r) == 'table' and r.err then
  return redis.error_reply('NOTCOUNTER ' .. r.err)
end
if redis.call('PTTL', k) == -1 then redis.call('PEXPIRE', k, ARGV[3]) end
return r

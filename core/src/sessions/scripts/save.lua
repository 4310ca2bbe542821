-- create(): a new session under a fresh id; set(): upsert under a given id (express-session), data
-- replaced wholesale, created/user/device kept unless given.
-- KEYS[1] ALL, KEYS[2] session. ARGV: BASE, mode (create|set), handle, user ('' = none/keep),
-- device JSON ('' = none/keep), idle_ms, absolute_ms (0 = none), then field/value pairs ('d:' data).
-- Reply: {expires_ms, created_ms}; -1 when create() hit an existing id; 0 when nothing is left to
-- keep (already past its absolute deadline, or a non-positive TTL).
local K, MODE, H = KEYS[2], ARGV[2], ARGV[3]
local user, device = ARGV[4], ARGV[5]
local idle, absolute = tonumber(ARGV[6]), tonumber(ARGV[7])
local created = NOW
if live(K) then
  if MODE == 'create' then return -1 end
  local m = redis.call('HMGET', K, 'm:c', 'm:u', 'm:v')
  created = tonumber(m[1]) or NOW
  if user == '' and m[2] then user = m[2] end
  if device == '' and m[3] then device = m[3] end
  if m[2] and m[2] ~= user then redis.call('ZREM', user_index(m[2]), H) end
  redis.call('DEL', K)
end
local deadline = 0
if absolute > 0 then deadline = created + absolute end
local e = expiry(idle, deadline)
if idle <= 0 or e <= NOW then
  redis.call('DEL', K)
  redis.call('ZREM', ALL, H)
  if user ~= '' then redis.call('ZREM', user_index(user), H) end
  return 0
end
local args = {'m:c', int(created), 'm:s', int(NOW), 'm:i', int(idle), 'm:d', int(deadline), 'm:e', int(e)}
if user ~= '' then args[#args + 1] = 'm:u'; args[#args + 1] = user end
if device ~= '' then args[#args + 1] = 'm:v'; args[#args + 1] = device end
for i = 8, #ARGV do args[#args + 1] = ARGV[i] end
redis.call('HSET', K, unpack(args))
redis.call('PEXPIREAT', K, int(e))
index_add(ALL, e, H)
if user ~= '' then index_add(user_index(user), e, H) end
return {e, created}

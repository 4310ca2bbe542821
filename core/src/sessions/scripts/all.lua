-- ids() / all() (express-session): every live session's handle, with its fields when asked.
-- KEYS[1] ALL. ARGV: BASE, with fields ('1'|'0'). O(sessions in the namespace): an admin tool.
-- Reply: list of handles, or list of {handle, HGETALL flat list}.
redis.call('ZREMRANGEBYSCORE', ALL, '-inf', int(NOW))
local out = {}
for _, h in ipairs(redis.call('ZRANGE', ALL, 0, -1)) do
  local K = BASE .. 's:' .. h
  if ARGV[2] == '1' then
    if live(K) then out[#out + 1] = {h, redis.call('HGETALL', K)} end
  else
    out[#out + 1] = h
  end
end
return out

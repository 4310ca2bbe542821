-- list_user(): a user's live sessions, oldest expiry first; expired entries are pruned on the way.
-- KEYS[1] ALL, KEYS[2] the user's index. ARGV: BASE.
-- Reply: list of {handle, created_ms, last_seen_ms, device JSON or '', expires_ms}.
local U = KEYS[2]
redis.call('ZREMRANGEBYSCORE', U, '-inf', int(NOW))
local out = {}
for _, h in ipairs(redis.call('ZRANGE', U, 0, -1)) do
  local K = BASE .. 's:' .. h
  local m = redis.call('HMGET', K, 'm:c', 'm:s', 'm:v', 'm:e')
  if m[4] and tonumber(m[4]) > NOW then
    out[#out + 1] = {h, m[1], m[2], m[3] or '', m[4]}
  else
    redis.call('ZREM', U, h)
  end
end
return out

-- redkeeper tokens: revoke one token.
-- KEYS[1] denylist entry (see check.lua). The value is a constant: the key itself is the fact.
-- ARGV: now_ms ('' = server TIME), exp_ms ('' = no exp claim), leeway_ms, max_lifetime_ms.
-- The entry lives until the token is dead: exp + leeway (check() accepts a token until then), or
-- max_lifetime from now for a token without exp (revoking again restarts that period).
-- Reply: {added 0|1, expires_at_ms}; {0, 0} when the token has already expired (nothing stored).
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local expires_at
if ARGV[2] ~= '' then
  expires_at = tonumber(ARGV[2]) + tonumber(ARGV[3])
else
  expires_at = now + tonumber(ARGV[4])
end
if expires_at <= now then return {0, 0} end
local ttl = string.format('%d', expires_at - now)
if redis.call('SET', KEYS[1], '1', 'PX', ttl, 'NX') then return {1, expires_at} end
if ARGV[2] == '' then redis.call('PEXPIRE', KEYS[1], ttl) end
return {0, expires_at}

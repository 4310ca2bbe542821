-- redkeeper tokens: revoke every token of one user issued before now.
-- KEYS[1] user record (hash: before = revoked-before instant ms, reason, at = last revoke ms),
-- KEYS[2] audit list (newest first, "<at_ms>:<reason>"); both `{prefix}:tokens:{<user tag>}:...`.
-- ARGV: now_ms ('' = server TIME), reason, keep_ms (max_lifetime + leeway: after that every token
-- issued before the instant has expired, so the record can go), audit_limit (0 = no audit).
-- The instant only moves forward. Reply: {revoked_before_ms, record_expires_at_ms}.
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local keep = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local before = now
local old = tonumber(redis.call('HGET', KEYS[1], 'before') or '0')
if old > before then before = old end
local expires_at = now + keep
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 and now + ttl > expires_at then expires_at = now + ttl end
redis.call('HSET', KEYS[1], 'before', string.format('%d', before), 'reason', ARGV[2], 'at', string.format('%d', now))
redis.call('PEXPIRE', KEYS[1], string.format('%d', expires_at - now))
if limit > 0 then
  redis.call('LPUSH', KEYS[2], string.format('%d', now) .. ':' .. ARGV[2])
  redis.call('LTRIM', KEYS[2], 0, limit - 1)
  redis.call('PEXPIRE', KEYS[2], string.format('%d', expires_at - now))
end
return {before, expires_at}

-- redkeeper tokens: live denylist entries and users under a revoke-all.
-- KEYS[1] denylist index, KEYS[2] users index (see stats_add.lua; both in the {stats} slot).
-- ARGV: now_ms ('' = server TIME). Reply: {denylisted, users_revoked}.
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local cut = string.format('%d', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cut)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cut)
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}

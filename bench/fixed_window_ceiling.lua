-- The ceiling benchmark's fixed-window limiter: the same contract as redkeeper's fixed_window hit
-- (block marker checked, window starts at the first hit, a rejected hit consumes nothing, time from
-- Redis TIME, reply {allowed, remaining, reset_after_ms, retry_after_ms}) in as few calls as it takes.
-- KEYS[1] counter, KEYS[2] block marker; ARGV limit, window_ms, cost.
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then return {0, 0, blocked - now, blocked - now} end
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count + cost > limit then
  local ttl = redis.call('PTTL', KEYS[1])
  return {0, limit - count, ttl, ttl}
end
count = redis.call('INCRBY', KEYS[1], cost)
local ttl = window
if count == cost then redis.call('PEXPIRE', KEYS[1], window) else ttl = redis.call('PTTL', KEYS[1]) end
return {1, limit - count, ttl, 0}

-- redkeeper sessions: prepended (by sessions.cpp) to every sessions script. Shared layout and helpers.
-- Convention: ARGV[1] = BASE, the namespace's key base `{prefix}:sessions:{<name>}:`; KEYS[1] = the
-- namespace index BASE..'all' (zset handle -> expiry ms). A session lives in BASE..'s:'..handle (hash),
-- a user's index in BASE..'u:'..user (zset handle -> expiry ms). Every key shares the {<name>} tag.
-- Invariant: a session's m:e field, its key's PEXPIREAT and its score in every index are equal, so
-- pruning an index by score removes exactly the sessions that expired.
local BASE, ALL = ARGV[1], KEYS[1]
local NOW
do
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Integers as decimal text (tostring would give 1.7e+12 for large values on some hosts).
local function int(n) return string.format('%d', n) end

local function user_index(user) return BASE .. 'u:' .. user end

-- Adds/moves a member, drops expired ones, and keeps the index's own TTL at its latest member's
-- expiry, so an index nobody reads again still goes away.
local function index_add(idx, exp, member)
  redis.call('ZADD', idx, int(exp), member)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', int(NOW))
  local last = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', idx, int(tonumber(last[2]))) end
end

-- Idle expiry from now, never past the absolute deadline (0 = none).
local function expiry(idle, deadline)
  local e = NOW + idle
  if deadline > 0 and deadline < e then e = deadline end
  return e
end

-- The session's expiry when it is alive; nil (and the key removed) when it is gone. The host's own
-- key expiry may lag by a millisecond; m:e decides, so both backends agree exactly.
local function live(key)
  local e = redis.call('HGET', key, 'm:e')
  if not e then return nil end
  e = tonumber(e)
  if e <= NOW then
    redis.call('DEL', key)
    return nil
  end
  return e
end

-- Sliding refresh: last seen = now, expiry = now + idle (capped), in the key and every index.
-- idle_override (ms) replaces the session's stored idle timeout (express-session's cookie maxAge).
local function refresh(key, handle, idle_override)
  local m = redis.call('HMGET', key, 'm:i', 'm:d', 'm:u')
  local idle = idle_override or tonumber(m[1])
  local e = expiry(idle, tonumber(m[2]) or 0)
  redis.call('HSET', key, 'm:s', int(NOW), 'm:e', int(e), 'm:i', int(idle))
  redis.call('PEXPIREAT', key, int(e))
  index_add(ALL, e, handle)
  if m[3] then index_add(user_index(m[3]), e, handle) end
  return e
end

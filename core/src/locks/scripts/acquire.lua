-- Lock acquire: SET NX PX with the caller's random owner token, and on success the next fencing
-- token of this lock name, in one atomic step.
-- KEYS[1] lock key, KEYS[2] fencing counter (same hash tag); ARGV[1] owner, ARGV[2] ttl ms,
-- ARGV[3] fencing counter retention ms.
-- Returns {1, fencing_token} when acquired, {0, holder's remaining pttl (-1: no expiry)} when not.
-- A missing counter (never used, expired after its retention, or lost with the data) restarts at
-- the server clock in microseconds rather than at 1, so a fence never goes backwards.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  -- INCR first: in the usual case (the counter exists) that is the whole fence step. It answers 1
  -- exactly when the counter was missing (a live counter is never below the clock seed).
  local fence = redis.call('INCR', KEYS[2])
  if fence == 1 then
    local t = redis.call('TIME')
    fence = tonumber(t[1]) * 1000000 + tonumber(t[2])
    redis.call('SET', KEYS[2], string.format('%.0f', fence), 'PX', ARGV[3])
  else
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
  end
  return {1, fence}
end
return {0, redis.call('PTTL', KEYS[1])}

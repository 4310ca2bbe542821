-- One-time code issue: store the new code's HMAC (never the code) for ttl ms, unless the subject is
-- locked out or inside the resend cooldown of the code it already has. One hash per subject:
-- hmac, fails (wrong guesses so far), ttl (the ttl it was issued with: elapsed = ttl - PTTL, so the
-- cooldown needs no clock of its own and agrees with the store's expiry).
-- KEYS[1] record; ARGV[1] code HMAC (hex), ARGV[2] ttl ms, ARGV[3] cooldown ms, ARGV[4] max attempts.
-- Returns {1, 'issued', 0} | {0, 'locked', ms until the lockout ends} | {0, 'cooldown', ms left}.
-- A lockout lasts until the locked code expires: issuing a fresh code must not hand out fresh
-- attempts. A new code resets the failure count (the guesses were against the old code).
local rec = redis.call('HMGET', KEYS[1], 'fails', 'ttl')
if rec[2] then
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl > 0 then
    if (tonumber(rec[1]) or 0) >= tonumber(ARGV[4]) then return {0, 'locked', pttl} end
    local left = tonumber(ARGV[3]) - (tonumber(rec[2]) - pttl)
    if left > 0 then return {0, 'cooldown', left} end
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'hmac', ARGV[1], 'fails', 0, 'ttl', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, 'issued', 0}

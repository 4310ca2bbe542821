-- One-time code verify, atomic: a right guess deletes the code (one use); a wrong one counts a
-- failure; once max attempts failed, every guess is refused (even the right code) until the code
-- expires.
-- KEYS[1] record; ARGV[1] the guess's HMAC (hex, same length as the stored one), ARGV[2] max attempts.
-- Returns {ok 0|1, reason, attempts left, ms until the lockout ends (0 unless locked)}.
-- The comparison visits every byte (no early exit). Both sides are HMACs under a secret the caller
-- never sees, so even a timing difference would only tell how many leading bytes of two
-- pseudo-random values agree, which says nothing about the code.
local rec = redis.call('HMGET', KEYS[1], 'hmac', 'fails')
if not rec[1] then return {0, 'expired_or_missing', 0, 0} end
local max = tonumber(ARGV[2])
local fails = tonumber(rec[2]) or 0
if fails >= max then return {0, 'locked', 0, redis.call('PTTL', KEYS[1])} end
local stored, guess = rec[1], ARGV[1]
local diff = 0
if #stored ~= #guess then diff = 1 end
for i = 1, #guess do
  if string.byte(stored, i) ~= string.byte(guess, i) then diff = diff + 1 end
end
if diff == 0 then
  redis.call('DEL', KEYS[1])
  return {1, 'ok', max - fails, 0}
end
fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)
if fails >= max then return {0, 'invalid', 0, redis.call('PTTL', KEYS[1])} end
return {0, 'invalid', max - fails, 0}

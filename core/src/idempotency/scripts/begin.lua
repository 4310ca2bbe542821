-- Idempotency begin: claim a key for one request, or tell the caller what happened to it, in one
-- atomic step. The record is one hash: state ('in_progress' | 'completed'), fp (fingerprint),
-- owner (the claimant's random token), resp (the stored response, CBOR, once completed).
-- KEYS[1] record; ARGV[1] fingerprint, ARGV[2] owner token, ARGV[3] in-progress marker ttl ms.
-- Returns {'new'} | {'in_progress', marker pttl ms} | {'completed', response} | {'mismatch', state}.
-- The fingerprint is checked before the state, so a different payload is refused (mismatch) even
-- while the first request still runs.
local rec = redis.call('HMGET', KEYS[1], 'state', 'fp', 'resp')
if not rec[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'state', 'in_progress', 'fp', ARGV[1], 'owner', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'new'}
end
if rec[2] ~= ARGV[1] then return {'mismatch', rec[1]} end
if rec[1] == 'completed' then return {'completed', rec[3] or ''} end
return {'in_progress', redis.call('PTTL', KEYS[1])}

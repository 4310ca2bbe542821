-- Idempotency extend: push the in-progress marker's expiry out (a long request's heartbeat), only
-- for its owner and only while in progress.
-- KEYS[1] record; ARGV[1] owner token, ARGV[2] marker ttl ms.
-- Returns 1 extended, 2 already completed (unchanged), 0 another owner's record, -1 no record.
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')
if not rec[1] then return -1 end
if rec[2] ~= ARGV[1] then return 0 end
if rec[1] == 'completed' then return 2 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1

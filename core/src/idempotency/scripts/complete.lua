-- Idempotency complete: store the response and keep it for the retention period, only for the
-- owner of the in-progress marker. A second complete by the same owner changes nothing (the first
-- response stays).
-- KEYS[1] record; ARGV[1] owner token, ARGV[2] response (CBOR), ARGV[3] retention ms.
-- Returns 1 stored (or already stored by this owner), 0 another owner's record, -1 no record (the
-- marker expired: the key is free again, or already claimed by a new request).
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')
if not rec[1] then return -1 end
if rec[2] ~= ARGV[1] then return 0 end
if rec[1] == 'completed' then return 1 end
redis.call('HSET', KEYS[1], 'state', 'completed', 'resp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1

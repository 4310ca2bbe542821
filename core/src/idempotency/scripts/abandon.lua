-- Idempotency abandon: drop the in-progress marker so a retry runs the request again, only for its
-- owner. A completed record is kept (its response is what retries must see).
-- KEYS[1] record; ARGV[1] owner token.
-- Returns 1 abandoned, 2 already completed (kept), 0 another owner's record, -1 no record.
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')
if not rec[1] then return -1 end
if rec[2] ~= ARGV[1] then return 0 end
if rec[1] == 'completed' then return 2 end
redis.call('DEL', KEYS[1])
return 1

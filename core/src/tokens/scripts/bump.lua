-- redkeeper token_versions: bump one user's counter.
-- KEYS[1] `{prefix}:token_versions:{<user tag>}` (string counter).
-- ARGV: base ('' = none: the loaded value to start from when the key is missing),
-- need_load ('1' = a loader is configured: a missing key without a base is not bumped from 0,
-- since the database may hold a higher value). A bumped counter never expires: expiring it would
-- bring back versions of tokens it was bumped to invalidate.
-- Reply: the new counter, or false (nil) when the caller must load first.
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[1] ~= '' then
    redis.call('SET', KEYS[1], ARGV[1])
  elseif ARGV[2] == '1' then
    return false
  end
end
local v = redis.call('INCR', KEYS[1])
redis.call('PERSIST', KEYS[1])
return v

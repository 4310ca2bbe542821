-- destroy(id) and destroy_handle(user, handle): removes the session and its index entries.
-- KEYS[1] ALL, KEYS[2] session. ARGV: BASE, handle, required user ('' = any: destroy by id).
-- Reply: 1 destroyed, 0 no live session (or, with a required user, not that user's session).
local K, H, REQ = KEYS[2], ARGV[2], ARGV[3]
if REQ ~= '' then
  -- Index entries of that user go whatever the session's state: the caller listed them.
  redis.call('ZREM', user_index(REQ), H)
end
if not live(K) then
  redis.call('ZREM', ALL, H)
  return 0
end
local user = redis.call('HGET', K, 'm:u')
if REQ ~= '' and user ~= REQ then return 0 end
redis.call('DEL', K)
redis.call('ZREM', ALL, H)
if user then redis.call('ZREM', user_index(user), H) end
return 1

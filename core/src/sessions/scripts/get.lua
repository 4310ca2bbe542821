-- get()/info(): the session's fields, refreshed first when touch is on.
-- KEYS[1] ALL, KEYS[2] session. ARGV: BASE, handle, touch ('1'|'0').
-- Reply: HGETALL-style flat list (meta 'm:*' and data 'd:*'), nil when there is no live session.
local K, H = KEYS[2], ARGV[2]
if not live(K) then
  redis.call('ZREM', ALL, H)
  return false
end
if ARGV[3] == '1' then refresh(K, H, nil) end
return redis.call('HGETALL', K)

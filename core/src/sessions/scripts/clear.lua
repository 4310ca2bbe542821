-- clear() (express-session): removes every session of the namespace and every user index.
-- KEYS[1] ALL. ARGV: BASE. O(sessions in the namespace). Reply: live sessions removed.
local n = 0
for _, h in ipairs(redis.call('ZRANGE', ALL, 0, -1)) do
  local K = BASE .. 's:' .. h
  local user = redis.call('HGET', K, 'm:u')
  if user then redis.call('DEL', user_index(user)) end
  if live(K) then
    redis.call('DEL', K)
    n = n + 1
  end
end
redis.call('DEL', ALL)
return n

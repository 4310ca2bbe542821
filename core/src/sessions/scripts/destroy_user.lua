-- destroy_user(): every session of a user, except one (the caller's current session) if given.
-- KEYS[1] ALL, KEYS[2] the user's index. ARGV: BASE, handle to keep ('' = none).
-- Reply: the number of live sessions destroyed.
local U, KEEP = KEYS[2], ARGV[2]
local n = 0
for _, h in ipairs(redis.call('ZRANGE', U, 0, -1)) do
  if h ~= KEEP then
    local K = BASE .. 's:' .. h
    if live(K) then
      redis.call('DEL', K)
      n = n + 1
    end
    redis.call('ZREM', U, h)
    redis.call('ZREM', ALL, h)
  end
end
return n

-- Lock release: delete the lock only when the caller's owner token still holds it, and wake the
-- waiters of this name.
-- KEYS[1] lock key; ARGV[1] owner, ARGV[2] wake-up channel.
-- Returns 1 released, 0 held by another owner, -1 not held at all (expired or never taken).
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
if holder then return 0 end
return -1

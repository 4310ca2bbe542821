-- Lock extend: reset the lock's expiry to ARGV[2] ms from now, only for the owner holding it.
-- KEYS[1] lock key; ARGV[1] owner, ARGV[2] ttl ms.
-- Returns 1 extended, 0 held by another owner, -1 not held at all.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
return -1

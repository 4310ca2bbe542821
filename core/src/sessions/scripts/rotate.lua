-- rotate(): moves a live session to a new id (against fixation): same data, created, user and
-- device; the old id stops working in the same step. Counts as activity (sliding refresh).
-- KEYS[1] ALL, KEYS[2] old session, KEYS[3] new session. ARGV: BASE, old handle, new handle.
-- Reply: the new expiry ms, 0 no live session, -1 the new id exists (caller draws another).
local OLD, NEW, OH, NH = KEYS[2], KEYS[3], ARGV[2], ARGV[3]
if not live(OLD) then
  redis.call('ZREM', ALL, OH)
  return 0
end
if redis.call('EXISTS', NEW) == 1 then return -1 end
local fields = redis.call('HGETALL', OLD)
local user = redis.call('HGET', OLD, 'm:u')
redis.call('DEL', OLD)
redis.call('ZREM', ALL, OH)
if user then redis.call('ZREM', user_index(user), OH) end
redis.call('HSET', NEW, unpack(fields))
return refresh(NEW, NH, nil)

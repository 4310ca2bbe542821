-- touch(): sliding refresh, optionally with a new idle timeout (express-session passes the cookie's).
-- KEYS[1] ALL, KEYS[2] session. ARGV: BASE, handle, idle_ms ('' = keep the session's own).
-- Reply: the new expiry ms, 0 when there is no live session.
local K, H = KEYS[2], ARGV[2]
if not live(K) then
  redis.call('ZREM', ALL, H)
  return 0
end
local idle = nil
if ARGV[3] ~= '' then idle = tonumber(ARGV[3]) end
return refresh(K, H, idle)

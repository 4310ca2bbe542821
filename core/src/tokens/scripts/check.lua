-- redkeeper tokens: is_revoked / check in one round trip.
-- KEYS[1] denylist entry `{prefix}:tokens:{<user tag>}:jti:<jti>` (or :jtih:/:tok: <sha256>);
-- KEYS[2] (only when the token has a sub) the user record `{prefix}:tokens:{<user tag>}:user`,
-- same hash tag as KEYS[1], so the script touches one slot.
-- ARGV: now_ms ('' = server TIME), exp_ms, nbf_ms, iat_ms ('' = claim absent), leeway_ms.
-- Reply: 0 valid, 1 denylisted, 2 revoked by revoke_user, 3 expired, 4 not yet valid (nbf).
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local leeway = tonumber(ARGV[5])
-- Expiry first: an expired token is dead whatever else is stored about it, and the answer then
-- does not depend on when the store gets round to dropping its denylist entry.
if ARGV[2] ~= '' and now >= tonumber(ARGV[2]) + leeway then return 3 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if KEYS[2] then
  local before = redis.call('HGET', KEYS[2], 'before')
  -- No iat: the token cannot prove it was issued after the revoke-all, so it is revoked.
  if before and (ARGV[4] == '' or tonumber(ARGV[4]) < tonumber(before)) then return 2 end
end
if ARGV[3] ~= '' and now + leeway < tonumber(ARGV[3]) then return 4 end
return 0

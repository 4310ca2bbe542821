-- redkeeper tokens: a user's revoke-all state and audit trail.
-- KEYS[1] user record, KEYS[2] audit list (see revoke_user.lua).
-- Reply: {revoked_before_ms or false, {"<at_ms>:<reason>", ...} newest first}.
local before = redis.call('HGET', KEYS[1], 'before')
return {before, redis.call('LRANGE', KEYS[2], 0, -1)}

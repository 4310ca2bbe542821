-- redkeeper limiter on Redis, the multi script's prelude (then helpers.lua, every algorithm in a
-- table of its own, and multi.lua): one instant for every check. The per-check values the helpers
-- and algorithms read (K_STATE, K_BLOCK, L, W, BD, N, CAP) are set by multi.lua's use_check().
-- ARGV[1] now_ms ('' = the server's TIME), ARGV[2] ttl_pad_ms; see multi.lua for the rest.
local K_STATE, K_BLOCK, L, W, BD, N, CAP
local NOW
if ARGV[1] == '' then
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  NOW = tonumber(ARGV[1])
end
local PAD = tonumber(ARGV[2])
local ALGORITHMS = {}

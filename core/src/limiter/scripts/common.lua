-- redkeeper limiter on Redis, the single-op prelude (prepended to every algorithm's script, then
-- helpers.lua): the op's arguments and time, and the algorithm's table A.
-- KEYS[1] state key `{prefix}:limiter:{name}:{<id>}`, KEYS[2] block marker (`...:block`, same slot).
-- ARGV: op (hit|peek|refund|block|reset), now_ms ('' = the server's TIME), limit, window_ms,
--       block_duration_ms, n (hit: cost, refund: amount, block: duration_ms), ttl_pad_ms.
-- Reply: {allowed 0|1, remaining, reset_after_ms, retry_after_ms}; reset replies 1.
-- The math mirrors core/src/limiter/README.md exactly. validate() keeps every intermediate below
-- 2^53, so Lua's doubles are exact; numbers are written with %d, never tostring (1.7e+12).
local K_STATE, K_BLOCK = KEYS[1], KEYS[2]
local OP = ARGV[1]
local NOW
if ARGV[2] == '' then
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  NOW = tonumber(ARGV[2])
end
local L = tonumber(ARGV[3])
local W = tonumber(ARGV[4])
local BD = tonumber(ARGV[5])
local N = tonumber(ARGV[6])
-- Added to every TTL: keys may outlive their logical expiry, never precede it (an expired state
-- reads as the empty one, so late expiry changes no answer; early expiry would).
local PAD = tonumber(ARGV[7])
local CAP = L * W

local A = {}

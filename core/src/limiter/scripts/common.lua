-- redkeeper limiter on Redis, shared prelude (prepended to every algorithm's script): arguments,
-- the op's time, exact integer division and the string-encoded state store.
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

-- floor(a / b) for b > 0, exact for |a|, |b| < 2^53 (math.floor(a / b) alone can round up).
local function idiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function cdiv(a, b) return -idiv(-a, b) end
local function fmt(x) return string.format('%d', x) end

-- String state `<tag>:<f1>:<f2>...`: the fields when the key holds this algorithm's state, else nil
-- (absent, or another algorithm's state under the same limiter name: that starts afresh).
local function string_load(tag, nfields)
  local v = redis.pcall('GET', K_STATE)
  if type(v) ~= 'string' then return nil end
  local s, i = {}, 0
  for x in string.gmatch(v, '[^:]+') do
    if i == 0 then
      if x ~= tag then return nil end
    else
      s[i] = tonumber(x)
      if s[i] == nil then return nil end
    end
    i = i + 1
  end
  if i ~= nfields + 1 then return nil end
  return s
end

-- Stores the state until the allowance is full again (`ttl_ms`), or deletes it when it already is.
local function string_save(tag, s, ttl_ms)
  if ttl_ms <= 0 then
    redis.call('DEL', K_STATE)
    return
  end
  local parts = {tag}
  for i = 1, #s do parts[i + 1] = fmt(s[i]) end
  redis.call('SET', K_STATE, table.concat(parts, ':'), 'PX', fmt(ttl_ms + PAD))
end

local A = {}

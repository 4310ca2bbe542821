-- redkeeper limiter on Redis, helpers shared by the single-op scripts and the multi script (after
-- their prelude, which declares K_STATE, K_BLOCK, NOW, BD and PAD): exact integer division, the
-- string-encoded state store and the block marker.

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

-- The block marker holds `blocked_until` (ms) and expires with it.
local function blocked_until()
  local v = redis.call('GET', K_BLOCK)
  if v then return tonumber(v) or 0 end
  return 0
end

local function blocked_reply(left_ms) return {0, 0, left_ms, left_ms} end

-- Rejects every hit for `ms` from now, replacing any earlier block.
local function start_block(ms)
  redis.call('SET', K_BLOCK, fmt(NOW + ms), 'PX', fmt(ms + PAD))
  return blocked_reply(ms)
end

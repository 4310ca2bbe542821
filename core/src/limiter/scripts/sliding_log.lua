-- sliding_log: the exact log. The state key is a LIST `[ 'sl:<used>', '<ts>:<cost>', ... ]`, entries
-- oldest first, one per millisecond; an entry at ts counts during [ts, ts + W). Hits append at the
-- tail and expired entries leave from the front, so an admitted hit costs O(1) amortised; only a
-- rejection walks the log, and only as far as it must.
-- In-script state: used (live units), drop (expired entries at the front, trimmed on the next
-- write), live (live entries), newest_ts/newest_cost, fresh (no log of ours under the key yet).

local function entry(v)
  local ts, c = string.match(v, '^(%-?%d+):(%d+)$')
  return tonumber(ts), tonumber(c)
end

function A.empty() return {used = 0, drop = 0, live = 0, fresh = true} end

function A.load()
  local head = redis.pcall('LINDEX', K_STATE, 0)
  if type(head) ~= 'string' then return nil end  -- absent (false), or a string state (error)
  local used = string.match(head, '^sl:(%d+)$')
  if not used then return nil end
  local s = {used = tonumber(used), drop = 0, fresh = false}
  local len = redis.call('LLEN', K_STATE)
  -- advance: count the expired entries at the front, in growing chunks
  local i, chunk = 1, 4
  while i < len do
    local items = redis.call('LRANGE', K_STATE, i, i + chunk - 1)
    local live_found = false
    for j = 1, #items do
      local ts, c = entry(items[j])
      if ts + W > NOW then
        live_found = true
        break
      end
      s.drop = s.drop + 1
      s.used = s.used - c
    end
    if live_found or #items == 0 then break end
    i = i + #items
    chunk = chunk * 2
  end
  s.live = len - 1 - s.drop
  if s.live > 0 then s.newest_ts, s.newest_cost = entry(redis.call('LINDEX', K_STATE, -1)) end
  return s
end

-- Makes the list match `s` before it is modified: creates it, or trims the expired front.
local function materialize(s)
  if s.fresh then
    redis.call('DEL', K_STATE)  -- another algorithm's state under the same name
    redis.call('RPUSH', K_STATE, 'sl:0')
    s.fresh = false
  elseif s.drop > 0 then
    -- The header takes the place of the last expired entry, then everything before it goes.
    redis.call('LSET', K_STATE, s.drop, 'sl:0')
    redis.call('LTRIM', K_STATE, s.drop, -1)
    s.drop = 0
  end
end

function A.available(s) return math.max(0, L - s.used) end

function A.wait(s, c)
  local need = s.used + c - L
  if need <= 0 then return 0 end
  local freed, i, chunk = 0, 1 + s.drop, 8
  while true do
    local items = redis.call('LRANGE', K_STATE, i, i + chunk - 1)
    if #items == 0 then return W end  -- unreachable while cost <= limit
    for j = 1, #items do
      local ts, cost = entry(items[j])
      freed = freed + cost
      if freed >= need then return ts + W - NOW end
    end
    i = i + #items
    chunk = chunk * 2
  end
end

function A.full_after(s)
  if s.live > 0 then return s.newest_ts + W - NOW end
  return 0
end

function A.consume(s, c)
  materialize(s)
  s.used = s.used + c
  if s.live > 0 and s.newest_ts == NOW then
    s.newest_cost = s.newest_cost + c
    redis.call('LSET', K_STATE, -1, fmt(NOW) .. ':' .. fmt(s.newest_cost))
  else
    redis.call('RPUSH', K_STATE, fmt(NOW) .. ':' .. fmt(c))
    s.live = s.live + 1
    s.newest_ts, s.newest_cost = NOW, c
  end
end

-- Newest units first.
function A.give_back(s, n)
  if s.fresh then return end
  materialize(s)
  while n > 0 and s.live > 0 do
    local take = math.min(s.newest_cost, n)
    s.newest_cost = s.newest_cost - take
    s.used = s.used - take
    n = n - take
    if s.newest_cost == 0 then
      redis.call('RPOP', K_STATE)
      s.live = s.live - 1
      if s.live > 0 then s.newest_ts, s.newest_cost = entry(redis.call('LINDEX', K_STATE, -1)) end
    else
      redis.call('LSET', K_STATE, -1, fmt(s.newest_ts) .. ':' .. fmt(s.newest_cost))
    end
  end
end

function A.save(s)
  local ttl_ms = A.full_after(s)
  if ttl_ms <= 0 then
    redis.call('DEL', K_STATE)
    return
  end
  materialize(s)
  redis.call('LSET', K_STATE, 0, 'sl:' .. fmt(s.used))
  redis.call('PEXPIRE', K_STATE, fmt(ttl_ms + PAD))
end

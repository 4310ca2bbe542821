-- redkeeper limiter on Redis, several limits in one atomic script (Client::hit_many): every check
-- is evaluated at NOW; only when all allow does each consume, so a rejected request costs nothing.
-- KEYS: per check i, KEYS[2i-1] its state key and KEYS[2i] its block marker.
-- ARGV[3 + 5(i-1) ..]: per check i, algorithm name, limit, window_ms, block_duration_ms, cost.
-- Reply: {all allowed 0|1, then per check: allowed 0|1, remaining, reset_after_ms, retry_after_ms}.
-- The caller guarantees no state key appears twice (each check's state is read once, then written).

-- Points the helpers' and algorithms' upvalues at check i; returns its algorithm's table.
local function use_check(i)
  local b = 3 + (i - 1) * 5
  K_STATE, K_BLOCK = KEYS[2 * i - 1], KEYS[2 * i]
  L = tonumber(ARGV[b + 1])
  W = tonumber(ARGV[b + 2])
  BD = tonumber(ARGV[b + 3])
  N = tonumber(ARGV[b + 4])
  CAP = L * W
  local A = ALGORITHMS[ARGV[b]]
  if not A then error('redkeeper limiter: unknown algorithm ' .. tostring(ARGV[b])) end
  return A
end

local count = #KEYS / 2
local states, replies, all_allowed = {}, {}, true
for i = 1, count do
  local A = use_check(i)
  local until_ms = blocked_until()
  if until_ms > NOW then
    replies[i] = blocked_reply(until_ms - NOW)
    all_allowed = false
  else
    local s = A.load() or A.empty()
    local w = A.wait(s, N)
    if w == 0 then
      states[i] = s
    else
      all_allowed = false
      if BD > 0 then
        replies[i] = start_block(BD)
      else
        replies[i] = {0, A.available(s), A.full_after(s), w}
      end
    end
  end
end

for i = 1, count do
  local s = states[i]
  if s then
    local A = use_check(i)
    if all_allowed then
      A.consume(s, N)
      A.save(s)
    end
    replies[i] = {1, A.available(s), A.full_after(s), 0}
  end
end

local out = {all_allowed and 1 or 0}
for i = 1, count do
  for j = 1, 4 do out[#out + 1] = replies[i][j] end
end
return out

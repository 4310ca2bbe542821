-- redkeeper limiter on Redis, the ops (appended after the algorithm): hit, peek, refund, block,
-- reset on top of the algorithm's A.load/empty/available/wait/full_after/consume/give_back/save.
-- What a hit of cost 1 would see now.
local function observe(s)
  local w = A.wait(s, 1)
  local allowed = 0
  if w == 0 then allowed = 1 end
  return {allowed, A.available(s), A.full_after(s), w}
end

if OP == 'hit' then
  local until_ms = blocked_until()
  if until_ms > NOW then return blocked_reply(until_ms - NOW) end
  local s = A.load() or A.empty()
  local w = A.wait(s, N)
  if w == 0 then
    A.consume(s, N)
    A.save(s)
    return {1, A.available(s), A.full_after(s), 0}
  end
  if BD > 0 then
    -- A rejection starts the block; nothing is consumed.
    return start_block(BD)
  end
  return {0, A.available(s), A.full_after(s), w}
elseif OP == 'peek' then
  local until_ms = blocked_until()
  if until_ms > NOW then return blocked_reply(until_ms - NOW) end
  local s = A.load()
  if not s then return {1, L, 0, 0} end
  return observe(s)
elseif OP == 'refund' then
  local s = A.load()
  if s then
    A.give_back(s, math.min(N, L))
    A.save(s)
  end
  local until_ms = blocked_until()
  if until_ms > NOW then return blocked_reply(until_ms - NOW) end
  if not s then return {1, L, 0, 0} end
  return observe(s)
elseif OP == 'block' then
  -- Replaces any earlier block; the counters are kept.
  return start_block(N)
elseif OP == 'reset' then
  redis.call('DEL', K_STATE, K_BLOCK)
  return 1
end
return redis.error_reply('ERR redkeeper limiter: unknown op ' .. tostring(OP))

-- sliding_window's hit, flat: placed before helpers.lua in the single-op script so the common op
-- returns before the helpers' and A's closures are built (as fixed_window_hit.lua does). Must
-- answer, and store, exactly as ops.lua's generic hit over sliding_window.lua; the random-sequence
-- parity test against the memory limiter holds it so.
if OP == 'hit' then
  -- One MGET for both keys (same slot); a non-string value reads as absent, as string_load's pcall does.
  local got = redis.call('MGET', K_STATE, K_BLOCK)
  local until_ms = tonumber(got[2] or 0) or 0
  if until_ms > NOW then return {0, 0, until_ms - NOW, until_ms - NOW} end
  -- helpers.lua's idiv (defined after this block): floor(a / b) for b > 0, exact below 2^53.
  local function idiv(a, b)
    local q = math.floor(a / b)
    if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
    return q
  end
  local start = idiv(NOW, W) * W
  local prev, cur = 0, 0
  if got[1] then
    -- `sw:<window_start_ms>:<prev>:<cur>` as string_save writes it; anything else starts afresh.
    local tag, a, b, c = string.match(got[1], '^(%w+):([^:]+):([^:]+):([^:]+)$')
    a, b, c = tonumber(a), tonumber(b), tonumber(c)
    if tag == 'sw' and a and b and c then
      if a == start then
        prev, cur = b, c
      elseif a == start - W then
        prev = c
      end
    end
  end
  local e = NOW - start
  -- sliding_window.lua's first_elapsed(p, a): the smallest elapsed time with floor(p * (W - t) / W) <= a.
  local function first_elapsed(p, a)
    if p == 0 then return 0 end
    return math.max(0, W - idiv((a + 1) * W - 1, p))
  end
  local wait
  local room = L - cur - N
  if room >= 0 then
    local f = first_elapsed(prev, room)
    if f <= e then
      wait = 0
    elseif f < W then
      wait = f - e
    end
  end
  if not wait then wait = (W - e) + first_elapsed(cur, L - N) end
  if wait > 0 and BD > 0 then
    -- A rejection starts the block; nothing is consumed.
    redis.call('SET', K_BLOCK, string.format('%d', NOW + BD), 'PX', string.format('%d', BD + PAD))
    return {0, 0, BD, BD}
  end
  if wait == 0 then cur = cur + N end
  local full_after = 0
  if cur > 0 then
    full_after = (W - e) + first_elapsed(cur, 0)
  else
    local f = first_elapsed(prev, 0)
    if f > e then full_after = f - e end
  end
  local available = math.max(0, L - (idiv(prev * (W - e), W) + cur))
  if wait > 0 then return {0, available, full_after, wait} end
  -- full_after > 0 here (cur > 0), so the state is always kept.
  redis.call('SET', K_STATE, string.format('sw:%d:%d:%d', start, prev, cur), 'PX', string.format('%d', full_after + PAD))
  return {1, available, full_after, 0}
end

-- fixed_window's hit, flat: placed before helpers.lua in the single-op script so the common op
-- returns before the helpers' and A's closures are built (they were a third of its server time).
-- Must answer exactly as ops.lua's generic hit over fixed_window.lua; the parity tests hold it so.
if OP == 'hit' then
  -- One MGET for both keys (same slot); a non-string value reads as absent, as string_load's pcall does.
  local got = redis.call('MGET', K_STATE, K_BLOCK)
  local until_ms = tonumber(got[2] or 0) or 0
  if until_ms > NOW then return {0, 0, until_ms - NOW, until_ms - NOW} end
  local count, ends = 0, 0
  if got[1] then
    -- `fw:<count>:<window_end_ms>` as string_save writes it; anything else starts afresh.
    local tag, c, e = string.match(got[1], '^(%w+):([^:]+):([^:]+)$')
    c, e = tonumber(c), tonumber(e)
    if tag == 'fw' and c and e and not (c > 0 and e <= NOW) then count, ends = c, e end
  end
  if count + N <= L or count == 0 then
    if count == 0 then ends = NOW + W end
    count = count + N
    -- count > 0 here, so the window's end is in the future: the key is always kept.
    redis.call('SET', K_STATE, string.format('fw:%d:%d', count, ends), 'PX', string.format('%d', ends - NOW + PAD))
    return {1, math.max(0, L - count), ends - NOW, 0}
  end
  if BD > 0 then
    -- A rejection starts the block; nothing is consumed.
    redis.call('SET', K_BLOCK, string.format('%d', NOW + BD), 'PX', string.format('%d', BD + PAD))
    return {0, 0, BD, BD}
  end
  return {0, math.max(0, L - count), ends - NOW, ends - NOW}
end

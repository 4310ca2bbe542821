-- sliding_window: state `sw:<window_start_ms>:<prev>:<cur>`, two counters in windows aligned to the
-- epoch; the estimate weighs the previous window by the part of it still inside the sliding window.

function A.empty() return {idiv(NOW, W) * W, 0, 0} end

function A.load()
  local s = string_load('sw', 3)
  if not s then return nil end
  local current_start = idiv(NOW, W) * W
  if s[1] ~= current_start then
    if s[1] == current_start - W then s[2] = s[3] else s[2] = 0 end
    s[3] = 0
    s[1] = current_start
  end
  return s
end

-- The smallest elapsed e in [0, W] with floor(p * (W - e) / W) <= a, for a >= 0.
local function first_elapsed(p, a)
  if p == 0 then return 0 end
  return math.max(0, W - idiv((a + 1) * W - 1, p))
end

function A.available(s)
  local e = NOW - s[1]
  return math.max(0, L - (idiv(s[2] * (W - e), W) + s[3]))
end

function A.wait(s, c)
  local e = NOW - s[1]
  local room = L - s[3] - c
  if room >= 0 then
    local f = first_elapsed(s[2], room)
    if f <= e then return 0 end
    if f < W then return f - e end
  end
  -- Not within this window: in the next one `cur` becomes the weighted previous count.
  return (W - e) + first_elapsed(s[3], L - c)
end

function A.full_after(s)
  local e = NOW - s[1]
  if s[3] > 0 then return (W - e) + first_elapsed(s[3], 0) end
  local f = first_elapsed(s[2], 0)
  if f > e then return f - e end
  return 0
end

function A.consume(s, c) s[3] = s[3] + c end

function A.give_back(s, n)
  local from_cur = math.min(s[3], n)
  s[3] = s[3] - from_cur
  s[2] = math.max(0, s[2] - (n - from_cur))
end

function A.save(s) string_save('sw', s, A.full_after(s)) end

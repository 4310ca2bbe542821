-- fixed_window: state `fw:<count>:<window_end_ms>`; the window starts at the first hit.

function A.empty() return {0, 0} end

function A.load()
  local s = string_load('fw', 2)
  if s and s[1] > 0 and s[2] <= NOW then
    s[1] = 0
    s[2] = 0
  end
  return s
end

function A.available(s) return math.max(0, L - s[1]) end

function A.wait(s, c)
  if s[1] + c <= L or s[1] == 0 then return 0 end
  return s[2] - NOW
end

function A.full_after(s)
  if s[1] > 0 then return s[2] - NOW end
  return 0
end

function A.consume(s, c)
  if s[1] == 0 then s[2] = NOW + W end
  s[1] = s[1] + c
end

function A.give_back(s, n)
  s[1] = math.max(0, s[1] - n)
  if s[1] == 0 then s[2] = 0 end
end

function A.save(s) string_save('fw', s, A.full_after(s)) end

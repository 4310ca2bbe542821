-- token_bucket: state `tb:<level>:<last_ms>` with level = tokens * W (exact scaled tokens);
-- refills L scaled units per ms, up to CAP = L * W.

function A.empty() return {CAP, NOW} end

function A.load()
  local s = string_load('tb', 2)
  if not s then return nil end
  local elapsed = NOW - s[2]
  if elapsed > 0 then  -- a clock that stepped back refills nothing
    if elapsed >= W then s[1] = CAP else s[1] = math.min(CAP, s[1] + elapsed * L) end
    s[2] = NOW
  end
  return s
end

function A.available(s) return math.max(0, idiv(s[1], W)) end

function A.wait(s, c)
  local need = c * W - s[1]
  if need <= 0 then return 0 end
  return cdiv(need, L)
end

function A.full_after(s) return cdiv(CAP - s[1], L) end

function A.consume(s, c) s[1] = s[1] - c * W end

function A.give_back(s, n) s[1] = math.min(CAP, s[1] + n * W) end

function A.save(s) string_save('tb', s, A.full_after(s)) end

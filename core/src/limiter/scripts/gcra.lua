-- gcra: state `gc:<tat_ms>:<tat_frac>`, TAT = tat_ms + tat_frac / L. Works in 1/L-ms units: the
-- "debt" is how far the TAT is ahead of now, capped at CAP = L * W (the burst tolerance).

local function debt(s)
  local ahead = s[1] - NOW
  if ahead > W then return CAP end
  return math.min(CAP, math.max(0, ahead * L + s[2]))
end

local function set_debt(s, d)
  local q = idiv(d, L)
  s[1] = NOW + q
  s[2] = d - q * L
end

function A.empty() return {NOW, 0} end

function A.load()
  local s = string_load('gc', 2)
  if s then set_debt(s, debt(s)) end
  return s
end

function A.available(s) return math.max(0, idiv(CAP - debt(s), W)) end

function A.wait(s, c)
  local need = debt(s) + c * W - CAP
  if need <= 0 then return 0 end
  return cdiv(need, L)
end

function A.full_after(s) return cdiv(debt(s), L) end

function A.consume(s, c) set_debt(s, debt(s) + c * W) end

function A.give_back(s, n) set_debt(s, math.max(0, debt(s) - n * W)) end

function A.save(s) string_save('gc', s, A.full_after(s)) end

-- Cache delete: KEYS[1] = namespace key; ARGV = user keys. Returns how many existed.
local gen = redis.call('GET', KEYS[1]) or '0'
local base = KEYS[1] .. ':' .. gen .. ':v:'
local n = 0
for i = 1, #ARGV do
  n = n + redis.call('DEL', base .. ARGV[i])
end
return n

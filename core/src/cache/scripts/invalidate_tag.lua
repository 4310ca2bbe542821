-- Cache tag invalidation: KEYS[1] = namespace key; ARGV[1] = tag. Deletes every key recorded
-- under the tag (in batches: unpack() is bounded by the Lua stack) and the tag set itself.
local gen = redis.call('GET', KEYS[1]) or '0'
local base = KEYS[1] .. ':' .. gen
local t = base .. ':t:' .. ARGV[1]
local members = redis.call('SMEMBERS', t)
local n = 0
local batch = {}
for i = 1, #members do
  batch[#batch + 1] = base .. ':v:' .. members[i]
  if #batch == 500 then
    n = n + redis.call('DEL', unpack(batch))
    batch = {}
  end
end
if #batch > 0 then n = n + redis.call('DEL', unpack(batch)) end
redis.call('DEL', t)
return n

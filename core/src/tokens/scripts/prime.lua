-- redkeeper token_versions: caches a counter loaded from the application's database.
-- KEYS[1] the user's counter key. ARGV: counter, ttl_ms (0 = keep).
-- A value already present (bumped or loaded by someone else meanwhile) wins.
-- Reply: the counter now stored.
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
end
return tonumber(redis.call('GET', KEYS[1]))

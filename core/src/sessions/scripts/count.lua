-- count(): live sessions in the namespace (expired index entries pruned first).
-- KEYS[1] ALL. ARGV: BASE. Reply: integer.
redis.call('ZREMRANGEBYSCORE', ALL, '-inf', int(NOW))
return redis.call('ZCARD', ALL)

-- Gives back a window grant that may not be used yet: its units stop counting
-- in every window. A grant already usable stays spent.
--
-- KEYS[1]  log
-- KEYS[2]  meta hash
-- ARGV[1]  member, as returned by the grant
--
-- Returns 1 if the grant was given back, else 0.
local log, meta = KEYS[1], KEYS[2]
local s = redis.call('ZSCORE', log, ARGV[1])
if not s then return 0 end
s = tonumber(s)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if s <= now then return 0 end
redis.call('ZREM', log, ARGV[1])
local n = tonumber(string.match(ARGV[1], ':(%d+)$'))
local h = redis.call('HGETALL', meta)
local f = {}
for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
for k, v in pairs(f) do
  if string.sub(k, 1, 1) == 's' then
    local c = tonumber(f['c' .. string.sub(k, 2)])
    if c and s > c then
      redis.call('HSET', meta, k, string.format('%.0f', tonumber(v) - n))
    end
  end
end
if tonumber(f['last'] or 0) == s then
  local top = redis.call('ZREVRANGE', log, 0, 0, 'WITHSCORES')
  local last = 0
  if #top > 0 then last = tonumber(top[2]) end
  redis.call('HSET', meta, 'last', string.format('%.0f', last))
end
return 1

-- Sets the shared pause: no limiter on this key grants anything before
-- now + ARGV[1] microseconds (Redis clock). A pause never shortens an
-- existing one. The key expires with the pause.
--
-- KEYS[1]  pause
-- ARGV[1]  duration in microseconds
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local till = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or 0)
if till <= cur then return 0 end
redis.call('SET', KEYS[1], string.format('%.0f', till), 'PX', math.ceil((till - now) / 1000) + 1)
return 1

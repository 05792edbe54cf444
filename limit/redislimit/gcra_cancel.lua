-- Gives back the units of a GCRA reservation if no later grant has moved the
-- TAT since: a reservation that others were queued behind stays spent.
--
-- KEYS[1]  TAT
-- ARGV[1]  the TAT string stored by the grant
-- ARGV[2]  units * T, in microseconds
--
-- Returns 1 if the units were given back, else 0.
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local new = tonumber(cur) - tonumber(ARGV[2])
if new <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.3f', new), 'PX', math.ceil((new - now) / 1000) + 1)
end
return 1

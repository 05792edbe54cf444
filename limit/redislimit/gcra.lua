-- GCRA with weighted cost, reservation of future slots, token leasing and
-- the shared pause, in one call. Times are microseconds on the Redis clock.
--
-- KEYS[1]  theoretical arrival time (TAT), a decimal string
-- KEYS[2]  pause: no grant before this instant
-- ARGV[1]  T, the emission interval (may be fractional; 0 = no limit)
-- ARGV[2]  burst, the instant capacity
-- ARGV[3]  n, the units the caller needs
-- ARGV[4]  want >= n: the units to take; the extra ones are leased
-- ARGV[5]  max wait: -1 grants only now (Allow); >= 0 reserves a grant that
--          far ahead at most (Reserve, Wait)
--
-- Returns {granted, wait, remaining, reset, tat, extras}: granted is the number
-- of units taken (0 = denied, nothing stored); wait is the time until the
-- caller's n units may be used (the retry-after when denied); remaining is
-- the number of units still available now (-1 = no limit); reset is the time
-- until the full burst is back; tat is the stored TAT (for Cancel); extras
-- lists, for each leased unit, the time until it may be used.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local maxwait = tonumber(ARGV[5])
local tau = T * burst

local st = redis.call('MGET', KEYS[1], KEYS[2])
local eff = now
local pause = tonumber(st[2] or 0) or 0
if pause > eff then eff = pause end
local tat = tonumber(st[1] or 0) or 0
if tat < eff then tat = eff end

-- usable(k): the instant from which the k-th unit after tat may be used.
local function usable(k)
  local a = tat + k * T - tau
  if a < eff then a = eff end
  return a
end

local function ceil0(x)
  x = math.ceil(x)
  if x < 0 then x = 0 end
  return x
end

local at = usable(n)
local ok
if maxwait < 0 then ok = at <= now else ok = at - now <= maxwait end
if not ok then
  return {0, ceil0(at - now), 0, ceil0(tat - now), '', {}}
end

local new = tat + want * T
local stored = string.format('%.3f', new)
local remaining = -1
if T > 0 then
  redis.call('SET', KEYS[1], stored, 'PX', math.ceil((new - now) / 1000) + 1)
  remaining = math.floor((now - (new - tau)) / T)
  if remaining < 0 or at > now then remaining = 0 end
end
local extras = {}
for k = n + 1, want do
  extras[#extras + 1] = ceil0(usable(k) - now)
end
return {want, ceil0(at - now), remaining, ceil0(new - now), stored, extras}

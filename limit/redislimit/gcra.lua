-- GCRA with weighted cost, reservation of future slots, token leasing and
-- the shared pause, in one call. Times are microseconds on the Redis clock.
-- Written for speed: Redis runs one script at a time.
--
-- KEYS[1]  theoretical arrival time (TAT), a decimal string
-- KEYS[2]  pause: no grant before this instant
-- ARGV[1]  T, the emission interval (may be fractional; 0 = no limit)
-- ARGV[2]  burst, the instant capacity
-- ARGV[3]  n, the units the caller needs
-- ARGV[4]  want >= n: the units to take; the extra ones are leased
-- ARGV[5]  max wait: -1 grants only now (Allow); >= 0 reserves a grant that
--          far ahead at most (Reserve, Wait)
-- ARGV[6]  max pause: a stored pause further ahead than this is read as
--          this far ahead (a hostile or corrupt value cannot block for days
--          or overflow)
--
-- Returns {granted, wait, remaining, reset, tat[, extras]}: granted is the
-- number of units taken (0 = denied, nothing stored); wait is the time until
-- the caller's n units may be used (the retry-after when denied); remaining
-- is the number of units still available now (-1 = no limit); reset is the
-- time until the full burst is back; tat is the stored TAT (for Cancel);
-- extras, when want > n, lists for each leased unit the time until it may be
-- used.
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local T = tonumber(ARGV[1])
local n = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local maxwait = tonumber(ARGV[5])
local tau = T * tonumber(ARGV[2])

local st = redis.call('MGET', KEYS[1], KEYS[2])
local eff = now
local pause = tonumber(st[2])
if pause and pause > now + tonumber(ARGV[6]) then pause = now + tonumber(ARGV[6]) end
if pause and pause > eff then eff = pause end
local tat = tonumber(st[1])
if not tat or tat < eff then tat = eff end

-- the instant from which the caller's n units may be used
local at = tat + n * T - tau
if at < eff then at = eff end
if at > now and (maxwait < 0 or at - now > maxwait) then
  local reset = math.ceil(tat - now)
  if reset < 0 then reset = 0 end
  return {0, math.ceil(at - now), 0, reset, ''}
end

local new = tat + want * T
local stored = ''
local remaining = -1
if T > 0 then
  stored = string.format('%.3f', new)
  redis.call('SET', KEYS[1], stored, 'PX', math.ceil((new - now) / 1000) + 1)
  remaining = 0
  if at <= now then
    remaining = math.floor((now - new + tau) / T)
    if remaining < 0 then remaining = 0 end
  end
end
local wait = math.ceil(at - now)
if wait < 0 then wait = 0 end
if want == n then
  return {want, wait, remaining, math.ceil(new - now), stored}
end
local extras = {}
for k = n + 1, want do
  local a = math.ceil(tat + k * T - tau - now)
  if a < eff - now then a = math.ceil(eff - now) end
  if a < 0 then a = 0 end
  extras[k - n] = a
end
return {want, wait, remaining, math.ceil(new - now), stored, extras}

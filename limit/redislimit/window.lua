-- Strict sliding windows, all-or-nothing: a grant of n units at instant x is
-- made only if every window (x-W, x] then holds at most N units. Grants are
-- appended in time order, so a grant that must wait reserves the earliest
-- instant at which all windows have room. Times are microseconds on the Redis
-- clock.
--
-- KEYS[1]  log: sorted set, score = instant a grant may be used,
--          member = "seq:units"; holds at most max(N) members per max(W)
-- KEYS[2]  meta hash: seq, last (newest score), wmax (largest W seen),
--          trim (log entries at or before it are removed), and per window W:
--          s<W> (units in the window) and c<W> (entries at or before this
--          instant are no longer counted in s<W>)
-- KEYS[3]  pause: no grant before this instant
-- ARGV[1]  n, the units to take
-- ARGV[2]  max wait: -1 grants only now (Allow); >= 0 reserves a grant that
--          far ahead at most
-- ARGV[3]  max pause: a stored pause further ahead than this is read as
--          this far ahead
-- ARGV[4..] pairs: W (window length, whole microseconds), N (units per window)
--
-- Returns {granted, wait, remaining, reset, member}: granted is 1 or 0 (then
-- only bookkeeping is stored); wait is the time until the grant may be used
-- (the retry-after when denied); remaining is the number of units that could
-- still be taken now; reset is the time until every window is empty again;
-- member names the grant for Cancel.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local maxwait = tonumber(ARGV[2])
local log, meta = KEYS[1], KEYS[2]

local function units(member) return tonumber(string.match(member, ':(%d+)$')) end
local function str(x) return string.format('%.0f', x) end
local function ceil0(x)
  x = math.ceil(x)
  if x < 0 then x = 0 end
  return x
end

local m = redis.call('HMGET', meta, 'last', 'wmax', 'trim')
local last = tonumber(m[1]) or 0
local wmax = tonumber(m[2]) or 0
local trim = tonumber(m[3]) or 0
local empty = redis.call('ZCARD', log) == 0

local eff = now
local pause = tonumber(redis.call('GET', KEYS[3]) or 0)
if pause > now + tonumber(ARGV[3]) then pause = now + tonumber(ARGV[3]) end
if pause > eff then eff = pause end
local x = eff
if last > x then x = last end

local wins = {}
local wcur = 0
for i = 4, #ARGV, 2 do
  local W, N = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if W > wmax then wmax = W end
  if W > wcur then wcur = W end
  local lo = now - W
  local st = redis.call('HMGET', meta, 's' .. ARGV[i], 'c' .. ARGV[i])
  local sum, cur = tonumber(st[1]), tonumber(st[2])
  if empty then
    sum = 0
  elseif sum == nil or cur == nil or cur < trim then
    -- a new window, or one whose counted entries were trimmed: count afresh
    sum = 0
    for _, mem in ipairs(redis.call('ZRANGEBYSCORE', log, '(' .. str(lo), '+inf')) do
      sum = sum + units(mem)
    end
  elseif cur < lo then
    for _, mem in ipairs(redis.call('ZRANGEBYSCORE', log, '(' .. str(cur), str(lo))) do
      sum = sum - units(mem)
    end
  else
    lo = cur
  end
  wins[#wins + 1] = {key = ARGV[i], N = N, sum = sum, lo = lo}

  -- the earliest instant at which n more units fit: walk the oldest grants
  -- until enough of them have left the window
  local need = sum + n - N
  local freed, off = 0, 0
  while freed < need do
    local batch = redis.call('ZRANGEBYSCORE', log, '(' .. str(lo), '+inf', 'WITHSCORES', 'LIMIT', off, 32)
    if #batch == 0 then break end
    for j = 1, #batch, 2 do
      freed = freed + units(batch[j])
      if freed >= need then
        local at = tonumber(batch[j + 1]) + W
        if at > x then x = at end
        break
      end
    end
    off = off + 32
  end
end

local ok
if maxwait < 0 then ok = x <= now else ok = x - now <= maxwait end
local member = ''
local remaining = 0
if ok then
  member = redis.call('HINCRBY', meta, 'seq', 1) .. ':' .. n
  redis.call('ZADD', log, str(x), member)
  if x > last then last = x end
  remaining = -1
  for _, w in ipairs(wins) do
    w.sum = w.sum + n
    if remaining < 0 or w.N - w.sum < remaining then remaining = w.N - w.sum end
  end
  if x > now or remaining < 0 then remaining = 0 end
end
for _, w in ipairs(wins) do
  redis.call('HSET', meta, 's' .. w.key, str(w.sum), 'c' .. w.key, str(w.lo))
end
local cut = now - wmax
if cut > trim then
  redis.call('ZREMRANGEBYSCORE', log, '-inf', str(cut))
  trim = cut
end
redis.call('HSET', meta, 'last', str(last), 'wmax', str(wmax), 'trim', str(trim))
local ttl = math.ceil((last + wmax - now) / 1000) + 1
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', log, ttl)
redis.call('PEXPIRE', meta, ttl)

return {ok and 1 or 0, ceil0(x - now), remaining, ceil0(last + wcur - now), member}

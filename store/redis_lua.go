package store

import (
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Result codes the scripts return as the first element of their reply
// (0 = unchanged, 1 = changed, negatives are the failures below).
const (
	luaUnchanged = 0
	luaChanged   = 1
	luaNotFound  = -1
	luaExceeds   = -2
	// luaRetry: the refund's payment_id is not the one the caller derived
	// the payment key from (PutRefund replaced it meanwhile); read again.
	luaRetry = -3
)

// luaRules is the only Lua copy of the status transition rules. It mirrors
// providers/status.go — CanTransition, CanTransitionRefund and
// CanTransitionPayout — line for line; change both together.
// TestRedisLuaTransitionsMatchGo compares them for every pair of statuses.
const luaRules = `
local payment_rank = {unknown = 0, requires_action = 1, processing = 2, authorized = 3,
	succeeded = 4, failed = 4, cancelled = 4, expired = 4}
local function payment_final(s)
	return s == 'succeeded' or s == 'failed' or s == 'cancelled' or s == 'expired'
end
local function can_transition(from, to, confirmed)
	if from == to or payment_rank[to] == nil or to == 'unknown' then return false end
	if payment_rank[from] == nil then return true end
	if from == 'succeeded' or from == 'cancelled' or from == 'expired' then return false end
	if from == 'failed' then return confirmed and (to == 'authorized' or to == 'succeeded') end
	if payment_final(to) then return true end
	return payment_rank[to] > payment_rank[from]
end

local refund_rank = {pending = 0, succeeded = 1, failed = 1}
local function can_transition_refund(from, to)
	local rt = refund_rank[to]
	if rt == nil or from == to then return false end
	local rf = refund_rank[from]
	return rf == nil or rt > rf
end

local payout_rank = {pending = 0, processing = 1, succeeded = 2, failed = 2, reversed = 3}
local function can_transition_payout(from, to)
	local rt = payout_rank[to]
	if rt == nil or from == to then return false end
	local rf = payout_rank[from]
	if rf == nil then return true end
	if from == 'failed' or from == 'reversed' then return false end
	if to == 'reversed' then return from == 'succeeded' end
	return rt > rf
end
`

// luaJSON holds the helpers every mutating script shares. Records are
// decoded with Redis's cjson but encoded by encode below, because
// cjson.encode prints numbers with 14 significant digits (an amount of
// 10^14 minor units or more would come out as 1e+14, which Go cannot read
// into an int64) and cannot tell an empty array from an empty object.
// encode prints integral numbers exactly (every amount is at most 2^53-1,
// which a Lua 5.1 double holds exactly; Go enforces that bound), objects
// with sorted keys, and an empty table as null: every collection in the
// record types is omitempty or nil-able, so null decodes to the same nil
// Go value bolt would have stored.
const luaJSON = `
local function tbl(x) if type(x) == 'table' then return x end return nil end
local function str(x) if type(x) == 'string' then return x end return '' end
local function num(x) return tonumber(x) or 0 end

local encode
encode = function(v)
	local t = type(v)
	if t == 'string' then return cjson.encode(v) end
	if t == 'boolean' then return v and 'true' or 'false' end
	if t == 'number' then
		if v == math.floor(v) and v >= -9007199254740992 and v <= 9007199254740992 then
			return string.format('%.0f', v)
		end
		return string.format('%.17g', v)
	end
	if t ~= 'table' or next(v) == nil then return 'null' end
	local parts = {}
	if v[1] ~= nil then
		for i = 1, #v do parts[i] = encode(v[i]) end
		return '[' .. table.concat(parts, ',') .. ']'
	end
	local keys = {}
	for k in pairs(v) do keys[#keys + 1] = k end
	table.sort(keys)
	for i, k in ipairs(keys) do parts[i] = cjson.encode(k) .. ':' .. encode(v[k]) end
	return '{' .. table.concat(parts, ',') .. '}'
end

-- merge applies a top-level JSON merge patch: null removes a field.
local function merge(rec, patch)
	for k, v in pairs(patch) do
		if v == cjson.null then rec[k] = nil else rec[k] = v end
	end
end

-- fill_urls gives the payment record under key the merchant's return URLs
-- it lacks from the record new (JSON), as fillReturnURLs in store.go does.
local function fill_urls(key, new)
	local raw = redis.call('GET', key)
	if not raw then return end
	local rec, nw, changed = cjson.decode(raw), cjson.decode(new), false
	for _, f in ipairs({'success_url', 'failure_url', 'return_url'}) do
		if str(rec[f]) == '' and str(nw[f]) ~= '' then rec[f] = nw[f]; changed = true end
	end
	if changed then redis.call('SET', key, encode(rec), 'KEEPTTL') end
end

-- append_history adds a status change to a record's history.
local function append_history(rec, change)
	local h = tbl(rec.history) or {}
	h[#h + 1] = change
	rec.history = h
end

-- release drops a refund reservation and recomputes amount_refunded, as
-- release in bolt.go does; it reports whether anything changed.
local function release(rec, key)
	local refunds = tbl(rec.refunds)
	if refunds == nil or refunds[key] == nil then return false end
	refunds[key] = nil
	local sum = 0
	for _, a in pairs(refunds) do sum = sum + num(a) end
	rec.amount_refunded = sum
	if next(refunds) == nil then rec.refunds = nil end
	return true
end
`

// luaPrelude is prepended to every script that needs the rules or JSON.
var luaPrelude = fmt.Sprintf("local UNCHANGED, CHANGED, NOT_FOUND, EXCEEDS, RETRY = %d, %d, %d, %d, %d\n",
	luaUnchanged, luaChanged, luaNotFound, luaExceeds, luaRetry) + luaRules + luaJSON

func script(body string) *redis.Script { return redis.NewScript(luaPrelude + body) }

// scriptPutFirst stores ARGV[1] under KEYS[1] unless the key exists and
// returns what is stored (first writer wins).
var scriptPutFirst = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return ARGV[1] end
return redis.call('GET', KEYS[1])
`)

// scriptApplyPayment: KEYS[1] payment; ARGV to, confirmed ('1'/'0'),
// stamped change JSON.
var scriptApplyPayment = script(`
local raw = redis.call('GET', KEYS[1])
if not raw then return {NOT_FOUND} end
local rec = cjson.decode(raw)
if not can_transition(str(rec.status), ARGV[1], ARGV[2] == '1') then return {UNCHANGED, raw} end
local change = cjson.decode(ARGV[3])
rec.status = ARGV[1]
if str(change.provider_status) ~= '' then rec.provider_status = change.provider_status end
append_history(rec, change)
local out = encode(rec)
redis.call('SET', KEYS[1], out)
return {CHANGED, out}
`)

// scriptReserveRefund: KEYS[1] payment; ARGV key, amount (at most 2^53).
// The cap compares "amount > amount - sum" like bolt, all exact integers.
var scriptReserveRefund = script(`
local raw = redis.call('GET', KEYS[1])
if not raw then return {NOT_FOUND} end
local rec = cjson.decode(raw)
local refunds = tbl(rec.refunds) or {}
if refunds[ARGV[1]] ~= nil then return {UNCHANGED, raw} end
local amount = tonumber(ARGV[2])
local sum = 0
for _, a in pairs(refunds) do sum = sum + num(a) end
if amount > num(rec.amount) - sum then return {EXCEEDS} end
refunds[ARGV[1]] = amount
rec.refunds = refunds
rec.amount_refunded = sum + amount
local out = encode(rec)
redis.call('SET', KEYS[1], out)
return {CHANGED, out}
`)

// scriptReleaseRefund: KEYS[1] payment; ARGV key.
var scriptReleaseRefund = script(`
local raw = redis.call('GET', KEYS[1])
if not raw then return {NOT_FOUND} end
local rec = cjson.decode(raw)
if not release(rec, ARGV[1]) then return {UNCHANGED, raw} end
local out = encode(rec)
redis.call('SET', KEYS[1], out)
return {CHANGED, out}
`)

// scriptApplyRefund: KEYS[1] refund, KEYS[2] its payment; ARGV to, stamped
// change JSON, the payment id KEYS[2] was derived from. Moving to failed
// releases the reservation in the same script (a missing payment is fine).
var scriptApplyRefund = script(`
local raw = redis.call('GET', KEYS[1])
if not raw then return {NOT_FOUND} end
local rec = cjson.decode(raw)
if str(rec.payment_id) ~= ARGV[3] then return {RETRY} end
if not can_transition_refund(str(rec.status), ARGV[1]) then return {UNCHANGED, raw} end
rec.status = ARGV[1]
append_history(rec, cjson.decode(ARGV[2]))
local out = encode(rec)
redis.call('SET', KEYS[1], out)
if ARGV[1] == 'failed' and str(rec.key) ~= '' then
	local praw = redis.call('GET', KEYS[2])
	if praw then
		local pay = cjson.decode(praw)
		if release(pay, rec.key) then redis.call('SET', KEYS[2], encode(pay)) end
	end
end
return {CHANGED, out}
`)

// scriptApplyPayout: KEYS[1] payout; ARGV to, stamped change JSON.
var scriptApplyPayout = script(`
local raw = redis.call('GET', KEYS[1])
if not raw then return {NOT_FOUND} end
local rec = cjson.decode(raw)
if not can_transition_payout(str(rec.status), ARGV[1]) then return {UNCHANGED, raw} end
rec.status = ARGV[1]
append_history(rec, cjson.decode(ARGV[2]))
local out = encode(rec)
redis.call('SET', KEYS[1], out)
return {CHANGED, out}
`)

// scriptBeginIdempotent: KEYS[1] idempotency key; ARGV in-flight record
// JSON, ttl in ms. Redis expires the key, so an expired record is free.
// scriptTakeOnce is GETDEL that also returns the key's remaining
// lifetime (ms), so a take the replicas did not acknowledge can be put
// back as it was.
var scriptTakeOnce = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
return {v, ttl}
`)

// scriptDeleteIfSame deletes KEYS[1] only while it holds exactly ARGV[1]
// (undoing our own write, never somebody else's).
var scriptDeleteIfSame = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	redis.call('DEL', KEYS[1])
	return 1
end
return 0
`)

var scriptBeginIdempotent = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1}
`)

// scriptFinishIdempotent: KEYS[1] idempotency key; ARGV merge patch. The
// key keeps its expiry (KEEPTTL).
var scriptFinishIdempotent = script(`
local raw = redis.call('GET', KEYS[1])
if not raw then return {NOT_FOUND} end
local rec = cjson.decode(raw)
merge(rec, cjson.decode(ARGV[1]))
redis.call('SET', KEYS[1], encode(rec), 'KEEPTTL')
return {CHANGED}
`)

// scriptEnqueue: KEYS[1] entries hash, KEYS[2] due zset, KEYS[3] the
// event's delivered marker, KEYS[4] the announcement's owner, KEYS[5] the
// announcement's delivered marker; ARGV id, entry JSON, score, '1' when
// the entry has an announcement, owner TTL (ms); and for the event log
// (redis_events.go) KEYS[6] its hash, KEYS[7] its time index, ARGV[6] the
// logged JSON, ARGV[7] the index member. Returns 1 when it stored
// the entry, 0 when the id is already queued (kept as it is) or was
// delivered, or another event owns the announcement.
var scriptEnqueue = redis.NewScript(`
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
	return 0
end
if ARGV[4] == '1' then
	local owner = redis.call('GET', KEYS[4])
	if (owner and owner ~= ARGV[1]) or redis.call('EXISTS', KEYS[5]) == 1 then
		return 0
	end
	redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[5])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if redis.call('HSETNX', KEYS[6], ARGV[1], ARGV[6]) == 1 then
	redis.call('ZADD', KEYS[7], 0, ARGV[7])
end
return 1
`)

// scriptClaim: KEYS[1] entries hash, KEYS[2] due zset; ARGV now score,
// limit, lease-end score. Pops the due members (oldest first), re-scores
// them to the lease end and returns their JSON, all in one script, so two
// claimers never get the same entry. Used by the outbox and the reconcile
// queue alike.
var scriptClaim = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
	local raw = redis.call('HGET', KEYS[1], id)
	if raw then
		redis.call('ZADD', KEYS[2], ARGV[3], id)
		out[#out + 1] = raw
	else
		redis.call('ZREM', KEYS[2], id)
	end
end
return out
`)

// scriptReschedule: KEYS[1] entries hash, KEYS[2] due zset; ARGV id, merge
// patch, next score.
var scriptReschedule = script(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {NOT_FOUND} end
local rec = cjson.decode(raw)
merge(rec, cjson.decode(ARGV[2]))
redis.call('HSET', KEYS[1], ARGV[1], encode(rec))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return {CHANGED}
`)

// scriptCanTransition evaluates one rule for the cross-check test: ARGV
// kind ('payment', 'refund', 'payout'), from, to, confirmed ('1'/'0').
var scriptCanTransition = script(`
local ok
if ARGV[1] == 'payment' then ok = can_transition(ARGV[2], ARGV[3], ARGV[4] == '1')
elseif ARGV[1] == 'refund' then ok = can_transition_refund(ARGV[2], ARGV[3])
else ok = can_transition_payout(ARGV[2], ARGV[3]) end
if ok then return 1 end
return 0
`)

// scriptCommit makes the writes of one Store.Commit. ARGV[1] lists its
// parts, one letter each, in order; each part takes the next KEYS and
// ARGV entries as listed here:
//
//	F  finish idempotent   KEYS idem key;          ARGV merge patch
//	P  put first           KEYS record key;        ARGV record JSON
//	S  set                 KEYS record key;        ARGV record JSON
//	Q  queue (check)       KEYS hash, zset;        ARGV id, JSON, score
//	O  once                KEYS once key;          ARGV data, ttl (ms)
//	D  delivered           KEYS delivered key;     ARGV time, ttl (s)
//	X  remove queued       KEYS hash, zset;        ARGV id
//	Y  put first, indexed  KEYS record key, zset;  ARGV record JSON, member
//
// Redis does not roll a script back, so every part that can fail is
// checked in a first pass that writes nothing: F on a missing key (the
// script returns {NOT_FOUND}) and a key of another type than its command
// needs (a WRONGTYPE error, which would otherwise stop the second pass
// halfway: the hash and sorted set of Q and X; F's key, which is read and
// decoded before any write, F coming first). SET, which the other parts
// use, replaces a key of any type. The second pass writes, and cannot fail
// short of the server itself failing.
var scriptCommit = script(`
local parts = ARGV[1]
local function typed(key, want)
	local t = redis.call('TYPE', key)['ok']
	return t == 'none' or t == want
end
local function walk(fn)
	local k, a = 1, 2
	for i = 1, #parts do
		local p = string.sub(parts, i, i)
		local nk, na = 1, 1
		if p == 'Q' then nk, na = 2, 3
		elseif p == 'O' or p == 'D' then na = 2
		elseif p == 'X' then nk = 2
		elseif p == 'Y' then nk, na = 2, 2 end
		local r = fn(p, k, a)
		if r then return r end
		k, a = k + nk, a + na
	end
end
local missing = walk(function(p, k, a)
	if p == 'F' then
		if redis.call('EXISTS', KEYS[k]) == 0 then return {NOT_FOUND} end
		if not typed(KEYS[k], 'string') then
			return redis.error_reply('WRONGTYPE ' .. KEYS[k] .. ' is not a string; nothing written')
		end
	elseif (p == 'Q' or p == 'X') and not (typed(KEYS[k], 'hash') and typed(KEYS[k + 1], 'zset')) then
		return redis.error_reply('WRONGTYPE ' .. KEYS[k] .. ' or ' .. KEYS[k + 1] .. ' is not a queue; nothing written')
	elseif p == 'Y' and not (typed(KEYS[k], 'string') and typed(KEYS[k + 1], 'zset')) then
		return redis.error_reply('WRONGTYPE ' .. KEYS[k] .. ' or ' .. KEYS[k + 1] .. ' is not a payment and its index; nothing written')
	end
end)
if missing then return missing end
walk(function(p, k, a)
	if p == 'F' then
		local rec = cjson.decode(redis.call('GET', KEYS[k]))
		merge(rec, cjson.decode(ARGV[a]))
		redis.call('SET', KEYS[k], encode(rec), 'KEEPTTL')
	elseif p == 'P' then
		redis.call('SET', KEYS[k], ARGV[a], 'NX')
	elseif p == 'S' then
		redis.call('SET', KEYS[k], ARGV[a])
	elseif p == 'Q' then
		redis.call('HSET', KEYS[k], ARGV[a], ARGV[a + 1])
		redis.call('ZADD', KEYS[k + 1], ARGV[a + 2], ARGV[a])
	elseif p == 'O' then
		redis.call('SET', KEYS[k], ARGV[a], 'PX', ARGV[a + 1])
	elseif p == 'D' then
		redis.call('SET', KEYS[k], ARGV[a], 'EX', ARGV[a + 1])
	elseif p == 'X' then
		redis.call('HDEL', KEYS[k], ARGV[a])
		redis.call('ZREM', KEYS[k + 1], ARGV[a])
	elseif p == 'Y' then
		if redis.call('SET', KEYS[k], ARGV[a], 'NX') then
			redis.call('ZADD', KEYS[k + 1], 0, ARGV[a + 1])
		else
			fill_urls(KEYS[k], ARGV[a])
		end
	end
end)
return {CHANGED}
`)

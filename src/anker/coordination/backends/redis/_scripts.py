"""The Lua scripts of the redis:// backend, one per operation, and the values they return.

Each runs atomically on the server; together they keep the key layout described in the
package docstring.
"""

from __future__ import annotations

__all__ = ["ADDED", "EXISTS", "EXPIRED", "PRELUDE", "REMOVED", "SCRIPTS"]

#: what the put script returns instead of a token (tokens are positive)
EXPIRED, EXISTS = -1, -2
#: the messages on a namespace's channel: an entry was added; REMOVED + key: it was removed
ADDED, REMOVED = b"+", b"-"

# Every script gets the key prefix as ARGV[1]; the layout is in the package docstring.
PRELUDE = (
    f"local P, EXPIRED, EXISTS = ARGV[1], {EXPIRED}, {EXISTS}\n"
    f"local ADDED, REMOVED = '{ADDED.decode()}', '{REMOVED.decode()}'"
    + r"""
local INDEX, COUNTER = P .. 'namespaces', P .. 'token'
local function session_key(id) return P .. 's:' .. id end
local function entries_key(ns) return P .. 'e:' .. ns end
local function channel(ns) return P .. 'c:' .. ns end
local function added_channel(ns) return P .. 'a:' .. ns end
local function queue_key(ns) return P .. 'q:' .. ns end
local function inbox(session) return P .. 'w:' .. session end
local function ref(ns, key) return cmsgpack.pack({ns, key}) end

-- Make the queue of a namespace list exactly its entries, in token order.
local function rebuild_queue(ns)
  local queue, fields = queue_key(ns), redis.call('HGETALL', entries_key(ns))
  redis.call('DEL', queue)
  for i = 1, #fields, 2 do
    redis.call('ZADD', queue, cmsgpack.unpack(fields[i + 1])[1], fields[i])
  end
end

-- Remove an entry and tell who may care: the removals channel; the head of the queue, on its
-- session's inbox, if the entry was ahead of it (nothing is ahead of the head now: it holds,
-- if it waits exclusively); and with ``owner``, the entry's own session (the entry went with
-- the session, not by the owner's hand). Each is O(log n), so ending a session that holds
-- many entries of one namespace stays O(n log n).
local function remove(ns, key, owner)
  local hash, queue = entries_key(ns), queue_key(ns)
  redis.call('HDEL', hash, key)
  local token = redis.call('ZSCORE', queue, key)
  redis.call('ZREM', queue, key)
  redis.call('PUBLISH', channel(ns), REMOVED .. key)
  if owner then redis.call('PUBLISH', inbox(owner), ns .. '\0' .. key .. '\0-') end
  -- The queue must list exactly the entries, else "nothing ahead" may be false. If it does
  -- not (a writer that kept none, a key lost), it is rebuilt and the head hears "read the
  -- namespace" ('?') instead.
  local before, note = token and tonumber(token), ''
  local head = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
  local record = #head > 0 and redis.call('HGET', hash, head[1])
  if not before or (#head > 0 and not record)
      or redis.call('ZCARD', queue) ~= redis.call('HLEN', hash) then
    rebuild_queue(ns)
    before, note = -math.huge, '\0?'
    head = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
    record = #head > 0 and redis.call('HGET', hash, head[1])
  end
  if #head == 0 or tonumber(head[2]) < before then return end
  redis.call('PUBLISH', inbox(cmsgpack.unpack(record)[2]), ns .. '\0' .. head[1] .. note)
end

-- Delete the entries of dead sessions; return the live ones with their session's PTTL.
local function live_entries(ns)
  local hash, ttl, live = entries_key(ns), {}, {}
  local fields = redis.call('HGETALL', hash)
  for i = 1, #fields, 2 do
    local e = cmsgpack.unpack(fields[i + 1])
    local left = ttl[e[2]] or redis.call('PTTL', session_key(e[2]))
    ttl[e[2]] = left
    if left == -2 then
      remove(ns, fields[i], e[2])
    else
      live[#live + 1] = {fields[i], e[4], e[1], e[2], e[3], left}
    end
  end
  if #live == 0 then redis.call('ZREM', INDEX, ns) end
  if redis.call('ZCARD', queue_key(ns)) ~= #live then rebuild_queue(ns) end
  return live
end

-- Create an entry; return its token, or EXPIRED or EXISTS (negative).
local function put(session, ns, key, value)
  local owner, hash = session_key(session), entries_key(ns)
  if redis.call('EXISTS', owner) == 0 then return EXPIRED end
  local old = redis.call('HGET', hash, key)
  if old and redis.call('EXISTS', session_key(cmsgpack.unpack(old)[2])) == 1 then
    return EXISTS
  end
  local now = redis.call('TIME')
  local micros = tonumber(now[1]) * 1000000 + tonumber(now[2])
  local token = math.max((tonumber(redis.call('GET', COUNTER)) or 0) + 1, micros)
  redis.call('SET', COUNTER, string.format('%.0f', token))
  redis.call('HSET', hash, key, cmsgpack.pack({token, session, micros, value}))
  redis.call('ZADD', queue_key(ns), token, key)
  redis.call('SADD', owner, ref(ns, key))
  redis.call('ZADD', INDEX, 0, ns)
  redis.call('PUBLISH', added_channel(ns), ADDED)
  return token
end
"""
)

SCRIPTS = {
    # ARGV: prefix, session, lease in ms
    "create": """
redis.call('SADD', session_key(ARGV[2]), '')
return redis.call('PEXPIRE', session_key(ARGV[2]), ARGV[3])
""",
    "renew": "return redis.call('PEXPIRE', session_key(ARGV[2]), ARGV[3])",
    # ARGV: prefix, session, namespace, key, value
    "put": "return put(ARGV[2], ARGV[3], ARGV[4], ARGV[5])",
    # Returns one flat array, cheap to parse: {token, created, own lease left, then six
    # fields per other live entry}; the caller has the rest of its own entry already.
    "put_and_read": """
local token = put(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
if token < 0 then return {token} end
local out = {token, 0, 0}
for _, e in ipairs(live_entries(ARGV[3])) do
  if e[1] == ARGV[4] then
    out[2], out[3] = e[5], e[6]
  else
    for j = 1, 6 do out[#out + 1] = e[j] end
  end
end
return out
""",
    # ARGV: prefix, namespace, key
    "delete": """
local hash = entries_key(ARGV[2])
local old = redis.call('HGET', hash, ARGV[3])
if not old then return 0 end
remove(ARGV[2], ARGV[3], nil)
redis.call('SREM', session_key(cmsgpack.unpack(old)[2]), ref(ARGV[2], ARGV[3]))
if redis.call('EXISTS', hash) == 0 then redis.call('ZREM', INDEX, ARGV[2]) end
return 1
""",
    # ARGV: prefix, session
    "end": """
local refs = redis.call('SMEMBERS', session_key(ARGV[2]))
redis.call('DEL', session_key(ARGV[2]))
for _, r in ipairs(refs) do
  if r ~= '' then
    local ns, key = unpack(cmsgpack.unpack(r))
    local hash = entries_key(ns)
    local old = redis.call('HGET', hash, key)
    if old and cmsgpack.unpack(old)[2] == ARGV[2] then
      remove(ns, key, ARGV[2])
      if redis.call('EXISTS', hash) == 0 then redis.call('ZREM', INDEX, ns) end
    end
  end
end
""",
    # ARGV: prefix, namespace
    "entries": "return live_entries(ARGV[2])",
    # ARGV: prefix, prefix of the namespaces ('\\255' never occurs in UTF-8)
    "namespaces": r"""
local found = {}
for _, ns in ipairs(redis.call('ZRANGEBYLEX', INDEX, '[' .. ARGV[2], '(' .. ARGV[2] .. '\255')) do
  if #live_entries(ns) > 0 then found[#found + 1] = ns end
end
return found
""",
}

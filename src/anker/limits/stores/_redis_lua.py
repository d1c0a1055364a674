"""The Lua scripts of the Redis limits store: each runs atomically on the server.

Keys (``P`` is the store's prefix): ``P projects`` (hash project -> parent, "" for a root),
``P defaults`` (hash resource -> limit), ``P limits:<project>`` (hash resource -> limit),
``P usage:<project>`` (hash ``used:<r>``, ``reserved:<r>``, ``subtree:<r>``),
``P claim:<id>`` (hash), ``P expiry`` (zset of pending claims by expiry) and ``P claims``
(zset of every claim by creation). Keys are computed in the scripts, so the store needs one
Redis server (or a Sentinel-managed primary), not a cluster.
"""

from __future__ import annotations

__all__ = ["ADJUST", "CLAIM", "COMMIT", "RELEASE", "SET_PROJECT", "SWEEP"]

_COMMON = """
local P = ARGV[1]
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function dec(key, field, amount)
  local value = tonumber(redis.call('HGET', key, field) or '0') - amount
  if value < 0 then value = 0 end
  redis.call('HSET', key, field, value)
end
local function path_of(project)
  local parent = redis.call('HGET', P .. 'projects', project)
  if not parent then return nil end
  local path = {project}
  while parent ~= '' do
    table.insert(path, parent)
    parent = redis.call('HGET', P .. 'projects', parent)
  end
  return path
end
local function give_back(id)
  local key = P .. 'claim:' .. id
  local fields = redis.call('HGETALL', key)
  if #fields == 0 then return nil end
  local claim = {}
  for i = 1, #fields, 2 do claim[fields[i]] = fields[i + 1] end
  local path = cjson.decode(claim.path)
  local resources = cjson.decode(claim.resources)
  -- a committed claim takes off at most the committed usage left (a recount may have
  -- lowered it), a pending one its reservation; the subtrees lose what the project lost
  local own = P .. 'usage:' .. claim.project
  for resource, amount in pairs(resources) do
    local used = tonumber(redis.call('HGET', own, 'used:' .. resource) or '0')
    local reserved = tonumber(redis.call('HGET', own, 'reserved:' .. resource) or '0')
    local taken, unreserved
    if claim.committed == '0' then
      taken, unreserved = math.min(amount, used), math.min(amount, reserved)
    else
      taken, unreserved = math.min(amount, math.max(0, used - reserved)), 0
    end
    redis.call('HSET', own, 'used:' .. resource, used - taken)
    redis.call('HSET', own, 'reserved:' .. resource, reserved - unreserved)
    if taken > 0 then
      for _, level in ipairs(path) do
        dec(P .. 'usage:' .. level, 'subtree:' .. resource, taken)
      end
    end
  end
  redis.call('DEL', key)
  redis.call('ZREM', P .. 'expiry', id)
  redis.call('ZREM', P .. 'claims', id)
  return fields
end
local function sweep(at)
  local ids = redis.call('ZRANGEBYSCORE', P .. 'expiry', '-inf', '(' .. at, 'LIMIT', 0, 500)
  for _, id in ipairs(ids) do give_back(id) end
  return #ids
end
"""

#: ARGV: prefix, model, id, project, lease, note, then resource, amount pairs
CLAIM = (
    _COMMON
    + """
local model, id, project = ARGV[2], ARGV[3], ARGV[4]
local lease, note = tonumber(ARGV[5]), ARGV[6]
local at = now()
sweep(at)
local path = path_of(project)
if not path then return {'unknown-project', project} end
local resources = {}
local wanted = {}
for i = 7, #ARGV, 2 do
  local resource, amount = ARGV[i], tonumber(ARGV[i + 1])
  resources[resource] = amount
  table.insert(wanted, resource)
end
local limits = {}
for _, resource in ipairs(wanted) do
  local registered = redis.call('HGET', P .. 'defaults', resource)
  limits[resource] = {}
  for depth, level in ipairs(path) do
    if model ~= 'flat' or depth == 1 then
      local limit = redis.call('HGET', P .. 'limits:' .. level, resource) or registered
      if not limit then return {'unknown-resource', resource, level} end
      limits[resource][depth] = tonumber(limit)
    end
  end
end
for _, resource in ipairs(wanted) do
  local amount = resources[resource]
  for depth, level in ipairs(path) do
    if model ~= 'flat' or depth == 1 then
      local limit = limits[resource][depth]
      local counter = 'subtree:'
      if model == 'flat' then counter = 'used:' end
      local key = P .. 'usage:' .. level
      local current = tonumber(redis.call('HGET', key, counter .. resource) or '0')
      if amount > 0 and limit ~= -1 and current + amount > limit then
        return {'over', resource, tostring(amount), tostring(current), tostring(limit), level}
      end
    end
  end
end
for _, resource in ipairs(wanted) do
  local amount = resources[resource]
  if amount > 0 then
    redis.call('HINCRBY', P .. 'usage:' .. project, 'used:' .. resource, amount)
    redis.call('HINCRBY', P .. 'usage:' .. project, 'reserved:' .. resource, amount)
    for _, level in ipairs(path) do
      redis.call('HINCRBY', P .. 'usage:' .. level, 'subtree:' .. resource, amount)
    end
  end
end
local expires = at + lease
redis.call('HSET', P .. 'claim:' .. id, 'project', project, 'path', cjson.encode(path),
  'resources', cjson.encode(resources), 'committed', '0', 'created', tostring(at),
  'expires', tostring(expires), 'note', note)
redis.call('ZADD', P .. 'expiry', expires, id)
redis.call('ZADD', P .. 'claims', at, id)
return {'ok', cjson.encode(path), tostring(at), tostring(expires)}
"""
)

#: ARGV: prefix, id. The claim's fields (committed), or false if it is gone.
COMMIT = (
    _COMMON
    + """
local id = ARGV[2]
local key = P .. 'claim:' .. id
if redis.call('EXISTS', key) == 0 then return false end
if redis.call('HGET', key, 'committed') == '0' then
  local project = redis.call('HGET', key, 'project')
  for resource, amount in pairs(cjson.decode(redis.call('HGET', key, 'resources'))) do
    dec(P .. 'usage:' .. project, 'reserved:' .. resource, amount)
  end
  redis.call('HSET', key, 'committed', '1', 'expires', '')
  redis.call('ZREM', P .. 'expiry', id)
end
return redis.call('HGETALL', key)
"""
)

#: ARGV: prefix, id. The released claim's fields, or false if it was gone.
RELEASE = (
    _COMMON
    + """
return give_back(ARGV[2]) or false
"""
)

#: ARGV: prefix. How many expired claims were given back.
SWEEP = (
    _COMMON
    + """
return sweep(now())
"""
)

#: ARGV: prefix, project, resource, delta. The committed usage afterwards, or false for an
#: unknown project.
ADJUST = (
    _COMMON
    + """
local project, resource, delta = ARGV[2], ARGV[3], tonumber(ARGV[4])
local path = path_of(project)
if not path then return false end
local key = P .. 'usage:' .. project
local committed = tonumber(redis.call('HGET', key, 'used:' .. resource) or '0')
  - tonumber(redis.call('HGET', key, 'reserved:' .. resource) or '0')
if delta < -committed then delta = -committed end
redis.call('HINCRBY', key, 'used:' .. resource, delta)
for _, level in ipairs(path) do
  redis.call('HINCRBY', P .. 'usage:' .. level, 'subtree:' .. resource, delta)
end
return committed + delta
"""
)

#: ARGV: prefix, project, parent ("" for a root). 'ok', or an error word and its subject.
SET_PROJECT = (
    _COMMON
    + """
local project, parent = ARGV[2], ARGV[3]
if parent ~= '' then
  local ancestor = parent
  if not redis.call('HGET', P .. 'projects', parent) then return {'unknown-project', parent} end
  while ancestor ~= '' do
    if ancestor == project then return {'cycle', parent} end
    ancestor = redis.call('HGET', P .. 'projects', ancestor)
  end
end
local current = redis.call('HGET', P .. 'projects', project)
if current and current ~= parent then
  local counters = redis.call('HGETALL', P .. 'usage:' .. project)
  for i = 1, #counters, 2 do
    if string.sub(counters[i], 1, 8) == 'subtree:' and tonumber(counters[i + 1]) > 0 then
      return {'busy', project}
    end
  end
end
redis.call('HSET', P .. 'projects', project, parent)
return {'ok', project}
"""
)

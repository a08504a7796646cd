-- Cursor pages that the response cache cannot answer: request k of thread t sends the cursor
-- naming row id  BENCH_CURSOR_START + BENCH_CURSOR_STEP * (k * threads + t),  so no cursor is
-- ever sent twice and every request reaches the database (X-Cache: MISS).
-- A cursor is base64url("v1:<id>") without padding, as app.core.pagination.encode_cursor makes
-- it; the page after cursor <id> holds the rows with ids below <id>, newest first.
--   BENCH_PATH          path and query up to the cursor value, e.g. /api/v1/scale/posts?limit=10&cursor=
--   BENCH_CURSOR_START  first row id
--   BENCH_CURSOR_STEP   added per request (+1 stays on page 1 above the newest id; -1 goes deeper)
--   BENCH_THREADS       wrk's thread count
--   BENCH_CURSOR_MIN    lowest id sent (default 1): past the end of the list, pages are empty
bench_counters = {"hits", "misses", "non_2xx"}
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local prefix = os.getenv("BENCH_PATH")
local start = tonumber(os.getenv("BENCH_CURSOR_START"))
local step = tonumber(os.getenv("BENCH_CURSOR_STEP"))
local threads = tonumber(os.getenv("BENCH_THREADS"))
local lowest = tonumber(os.getenv("BENCH_CURSOR_MIN") or "1")
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

sent, hits, misses, non_2xx = 0, 0, 0, 0

local function base64url(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = (c and 4) or (b and 3) or 2
    for j = 0, chars - 1 do
      local index = math.floor(n / 2 ^ (18 - 6 * j)) % 64
      out[#out + 1] = alphabet:sub(index + 1, index + 1)
    end
  end
  return table.concat(out)
end

function request()
  local id = math.max(lowest, start + step * (sent * threads + thread_id))
  sent = sent + 1
  return wrk.format("GET", prefix .. base64url(string.format("v1:%d", id)))
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  end
  local state = headers["x-cache"] or headers["X-Cache"]
  if state == "HIT" then
    hits = hits + 1
  elseif state == "MISS" then
    misses = misses + 1
  end
end

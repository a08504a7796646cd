-- One fixed request, built once per thread (no request() or response() hook, so wrk spends
-- nothing per request in Lua). Set by the harness through the environment:
--   BENCH_METHOD        GET (default) or POST
--   BENCH_BODY          request body
--   BENCH_CONTENT_TYPE  its Content-Type
--   BENCH_TOKEN         sent as "Authorization: Bearer <token>"
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

wrk.method = os.getenv("BENCH_METHOD") or "GET"

local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
end

local content_type = os.getenv("BENCH_CONTENT_TYPE")
if content_type and content_type ~= "" then
  wrk.headers["Content-Type"] = content_type
end

local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

-- BENCH_COUNT_CACHE=1: count the X-Cache header of the responses (HIT or MISS) and every
-- status outside 200-299, to show that a cached scenario was served from the cache. It costs
-- wrk a Lua call per response, so only the cached scenarios use it.
if os.getenv("BENCH_COUNT_CACHE") == "1" then
  bench_counters = {"hits", "misses", "non_2xx"}
  hits, misses, non_2xx = 0, 0, 0

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
end

-- BENCH_COUNT_503=1 (S10): count the 503 answers (admission control refusing work it cannot
-- start in time) apart from the other statuses outside 200-299.
if os.getenv("BENCH_COUNT_503") == "1" then
  bench_counters = {"status_503", "non_2xx"}
  status_503, non_2xx = 0, 0

  function response(status, headers, body)
    if status < 200 or status > 299 then
      non_2xx = non_2xx + 1
      if status == 503 then
        status_503 = status_503 + 1
      end
    end
  end
end

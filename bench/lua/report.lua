-- Shared by the bench scripts (loaded with dofile): setup() numbers the threads, done() prints
-- one line "BENCH_JSON {...}" that the harness reads: the summary, the errors wrk counted
-- (status = responses with a status of 400 or more) and the latency percentiles, in
-- microseconds. Counters a script names in bench_counters are summed over its threads.

bench_threads = {}
bench_counters = bench_counters or {}

function setup(thread)
  thread:set("thread_id", #bench_threads)
  table.insert(bench_threads, thread)
end

local function num(value)
  return string.format("%.0f", value or 0)
end

function done(summary, latency, requests)
  local percentiles = {}
  for _, p in ipairs({50, 75, 90, 99, 99.9}) do
    percentiles[#percentiles + 1] = string.format('"%s": %.1f', tostring(p), latency:percentile(p))
  end
  local counters = {}
  for _, name in ipairs(bench_counters) do
    local total = 0
    for _, thread in ipairs(bench_threads) do
      total = total + (tonumber(thread:get(name)) or 0)
    end
    counters[#counters + 1] = string.format('"%s": %s', name, num(total))
  end
  local e = summary.errors
  local count = summary.requests
  io.write(string.format(
    'BENCH_JSON {"duration_us": %s, "requests": %s, "bytes": %s, '
      .. '"errors": {"connect": %s, "read": %s, "write": %s, "status": %s, "timeout": %s}, '
      .. '"latency_us": {"min": %.1f, "max": %.1f, "mean": %.1f, "stdev": %.1f, '
      .. '"percentiles": {%s}}, "counters": {%s}}\n',
    num(summary.duration), num(count), num(summary.bytes),
    num(e.connect), num(e.read), num(e.write), num(e.status), num(e.timeout),
    count > 0 and latency.min or 0, latency.max, latency.mean, latency.stdev,
    table.concat(percentiles, ", "), table.concat(counters, ", ")
  ))
end

-- wrk script for POST /api/v1/chat: a unique message each time (so the response cache never
-- answers) and no tools, the same request the Python client sends.
-- BENCH_TAG (set per run by benchmarks/overhead.py) keeps messages unique across runs.
local tag = os.getenv("BENCH_TAG") or tostring(os.time())
local sent = 0

request = function()
  sent = sent + 1
  local body = string.format(
    '{"message":"Benchmark message number %d of run %s, please reply briefly.","tools":[]}',
    sent, tag)
  return wrk.format("POST", "/api/v1/chat", {["Content-Type"] = "application/json"}, body)
end

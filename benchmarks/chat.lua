-- wrk script for POST /api/v1/chat: a unique message each time (so the response cache never
-- answers) and no tools, the same request the Python client sends.
local letters = "abcdefghijklmnopqrstuvwxyz"
local tag = ""
math.randomseed(os.time())
for _ = 1, 8 do
  local i = math.random(1, 26)
  tag = tag .. letters:sub(i, i)
end
local sent = 0

request = function()
  sent = sent + 1
  local body = string.format(
    '{"message":"Benchmark message number %d of run %s, please reply briefly.","tools":[]}',
    sent, tag)
  return wrk.format("POST", "/api/v1/chat", {["Content-Type"] = "application/json"}, body)
end

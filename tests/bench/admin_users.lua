-- wrk script: POST /admin/users with a username no other request of this run uses (the
-- thread's id, the connection's counter), the admin token from WRK_AUTH, and a password
-- when WRK_PASSWORD is set; prints a JSON summary.
local auth = os.getenv("WRK_AUTH")
local password = os.getenv("WRK_PASSWORD")
local run = os.getenv("WRK_RUN") or "r"
local counter = 0
local thread_id = 0

setup = function(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

request = function()
  counter = counter + 1
  local body = string.format('{"username":"%s-%d-%d"', run, tid or 0, counter)
  if password and password ~= "" then body = body .. string.format(',"password":"%s"', password) end
  body = body .. "}"
  return wrk.format("POST", "/admin/users", {
    ["Authorization"] = auth, ["Content-Type"] = "application/json" }, body)
end

local non2xx = 0
response = function(status, headers, body)
  if status >= 300 then non2xx = non2xx + 1 end
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"rps": %.0f, "p50_ms": %.2f, "p99_ms": %.2f, "requests": %d, "errors": %d}\n',
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout))
end

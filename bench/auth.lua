-- wrk script of bench/auth_bench.py. BENCH_MODE=get: GET BENCH_PATH with BENCH_TOKEN.
-- BENCH_MODE=token: POST /v1/auth/token, cycling through the e-mails of BENCH_EMAILS
-- (comma-separated), the right password (BENCH_PASSWORD) and a wrong one in turn.
local mode = os.getenv("BENCH_MODE")
local bodies = {}
local n = 0

if mode == "get" then
  wrk.method = "GET"
  wrk.path = os.getenv("BENCH_PATH")
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
else
  wrk.method = "POST"
  wrk.path = "/v1/auth/token"
  wrk.headers["Content-Type"] = "application/json"
  for email in string.gmatch(os.getenv("BENCH_EMAILS"), "[^,]+") do
    for _, password in ipairs({os.getenv("BENCH_PASSWORD"), "not-the-password-at-all"}) do
      table.insert(bodies, string.format('{"email":"%s","password":"%s"}', email, password))
    end
  end
end

function request()
  if mode == "get" then
    return wrk.format()
  end
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end

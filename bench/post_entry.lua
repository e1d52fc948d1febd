-- wrk script: POST one balanced journal entry per request (no Idempotency-Key, so
-- every request writes a new entry). BENCH_TOKEN/BENCH_DEBIT/BENCH_CREDIT come from env.
local token = os.getenv("BENCH_TOKEN")
local debit = os.getenv("BENCH_DEBIT")
local credit = os.getenv("BENCH_CREDIT")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.body = string.format(
  '{"date":"2026-11-01","description":"bench","postings":[' ..
  '{"account_id":"%s","side":"debit","amount":1234},' ..
  '{"account_id":"%s","side":"credit","amount":1234}]}', debit, credit)

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, non2xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end

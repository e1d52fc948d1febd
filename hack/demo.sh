#!/usr/bin/env bash
# `make demo`: migrate, seed a demo organization, start the API on loopback, post a
# few entries through it, print what to try next, and keep serving until Ctrl-C.
# DEMO_EXIT=1 stops after the walkthrough (used to check the demo itself).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
eval "$(hack/services.sh env)"
export JWT_SECRET=${JWT_SECRET:-demo-only-secret-not-for-production-0123456789}
PORT=${PORT:-8000}
API="http://127.0.0.1:$PORT"
EMAIL=owner@demo.example.com
export OWNER_PASSWORD=demo-password-123

.venv/bin/accounting-api migrate >/dev/null
.venv/bin/accounting-api create-org --name "Demo Books Inc." --email "$EMAIL" \
  --owner-name "Demo Owner" >/dev/null 2>&1 || true   # already seeded on a second run

.venv/bin/accounting-api serve --port "$PORT" >"$ROOT/.run/demo-api.log" 2>&1 &
API_PID=$!
trap 'kill $API_PID 2>/dev/null; wait $API_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$API/ready" >/dev/null && break; sleep 0.1; done

JSON=(-H 'content-type: application/json')
TOKEN=$(curl -sf "${JSON[@]}" -X POST "$API/v1/auth/token" \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$OWNER_PASSWORD\"}" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
AUTH=(-H "authorization: Bearer $TOKEN")
account() { curl -sf "${AUTH[@]}" "$API/v1/accounts?limit=100" | .venv/bin/python -c "import json,sys; print(next(a['id'] for a in json.load(sys.stdin)['data'] if a['code']=='$1'))"; }
CASH=$(account 1000); EQUITY=$(account 3000); REVENUE=$(account 4000)

echo "== Owner invests 10,000.00 USD (idempotent: run the demo twice, it posts once)"
curl -sf "${JSON[@]}" "${AUTH[@]}" -H "Idempotency-Key: demo-investment" -X POST "$API/v1/journal-entries" \
  -d "{\"date\":\"$(date -u +%F)\",\"description\":\"Owner investment\",\"postings\":[
       {\"account_id\":\"$CASH\",\"side\":\"debit\",\"amount\":1000000},
       {\"account_id\":\"$EQUITY\",\"side\":\"credit\",\"amount\":1000000}]}"; echo
echo "== An unbalanced entry is refused with a problem+json, and nothing is written"
curl -s "${JSON[@]}" "${AUTH[@]}" -X POST "$API/v1/journal-entries" \
  -d "{\"date\":\"$(date -u +%F)\",\"postings\":[
       {\"account_id\":\"$CASH\",\"side\":\"debit\",\"amount\":500},
       {\"account_id\":\"$REVENUE\",\"side\":\"credit\",\"amount\":400}]}"; echo
echo "== Cash balance"
curl -sf "${AUTH[@]}" "$API/v1/accounts/$CASH/balance"; echo
echo "== Health"
curl -s "$API/health"; echo

cat <<TXT

The API is serving on $API (log: .run/demo-api.log). Try:
  export TOKEN=$TOKEN
  curl -s -H "authorization: Bearer \$TOKEN" '$API/v1/accounts?limit=5'
  curl -s -H "authorization: Bearer \$TOKEN" '$API/v1/journal-entries?limit=5'
  curl -s -H "authorization: Bearer \$TOKEN" '$API/v1/accounts/$CASH/balance?as_of=$(date -u +%F)'
  curl -s '$API/openapi.json' | head -c 300; echo
  curl -s '$API/metrics' | grep http_request_duration_seconds_count
Sign in as $EMAIL / $OWNER_PASSWORD. Ctrl-C stops the API; 'make services-down' stops PostgreSQL and Redis.
TXT
[ "${DEMO_EXIT:-0}" = 1 ] && exit 0
wait $API_PID

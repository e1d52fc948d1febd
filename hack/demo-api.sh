# The API half of `make demo` (sourced by hack/demo.sh, which defines say, log, wait_until
# and stop_pid): migrate, seed a demo organization, start the API on loopback, post a few
# entries through it and print what to try next. Entry points: api_demo, api_stop.

eval "$(hack/services.sh env)"
# Redis database 1 rather than 0: tests and benchmarks on this machine share the client IP
# (127.0.0.1) and so the rate limits; in their own database they cannot exhaust the demo's.
export REDIS_URL="${REDIS_URL%/0}/${DEMO_REDIS_DB:-1}"
export JWT_SECRET=${JWT_SECRET:-demo-only-secret-not-for-production-0123456789}
PORT=${PORT:-8000}
API="http://127.0.0.1:$PORT"
EMAIL=owner@demo.example.com
export OWNER_PASSWORD=demo-password-123
API_PID=""
JSON=(-H 'content-type: application/json')

api_demo() {
  api_seed
  api_start
  api_walkthrough
  api_usage
}

api_seed() {
  .venv/bin/accounting-api migrate >/dev/null
}

# The demo organization, created on the first run only (--unless-exists: with memberships,
# create-org for an e-mail that exists would make that person another organization).
api_create_org() {
  .venv/bin/accounting-api create-org --name "Demo Books Inc." --email "$EMAIL" \
    --owner-name "Demo Owner" --unless-exists >/dev/null
}

api_ready() { curl -sf "$API/ready" >/dev/null; }

api_start() {
  .venv/bin/accounting-api serve --port "$PORT" >"$ROOT/.run/demo-api.log" 2>&1 &
  API_PID=$!
  wait_until 20 api_ready || { tail -n 20 .run/demo-api.log >&2; log "the API is not ready"; return 1; }
}

api_stop() { stop_pid "$API_PID" "the API"; }

# The access_token of a token answer on stdin; nothing if it has none.
access_token() {
  .venv/bin/python -c 'import json, sys
try: print(json.load(sys.stdin).get("access_token", ""))
except ValueError: pass'
}

# The id of the demo organization's account with code $1.
account() {
  curl -sf "${AUTH[@]}" "$API/v1/accounts?limit=100" | .venv/bin/python -c \
    "import json,sys; print(next(a['id'] for a in json.load(sys.stdin)['data'] if a['code']=='$1'))"
}

# Post a journal entry: description, debit account, credit account, debit and credit
# amounts, then extra curl options.
post_entry() {
  curl -s "${JSON[@]}" "${AUTH[@]}" "${@:6}" -X POST "$API/v1/journal-entries" \
    -d "{\"date\":\"$(date -u +%F)\",\"description\":\"$1\",\"postings\":[
         {\"account_id\":\"$2\",\"side\":\"debit\",\"amount\":$4},
         {\"account_id\":\"$3\",\"side\":\"credit\",\"amount\":$5}]}"
  echo
}

# The demo owner's token, the organization created first if it is not yet; an owner of
# several organizations (seeded by demos before --unless-exists) takes the oldest.
api_sign_in() {
  local answer org=""
  api_create_org
  answer=$(token_answer)
  if [ "$(code <<<"$answer")" = organization_required ]; then
    org=$(.venv/bin/python -c 'import json, sys
print(json.load(sys.stdin)["organizations"][0]["id"])' <<<"$answer")
    answer=$(token_answer ",\"organization_id\":\"$org\"")
  fi
  TOKEN=$(access_token <<<"$answer")
  [ -n "$TOKEN" ] || { log "signing in failed: $answer"; return 1; }
  AUTH=(-H "authorization: Bearer $TOKEN")
}

# The token endpoint's answer for the demo owner ($1: more JSON fields).
token_answer() {
  curl -s "${JSON[@]}" -X POST "$API/v1/auth/token" \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$OWNER_PASSWORD\"${1:-}}"
}

# The problem code of the JSON answer on stdin; nothing if it has none.
code() {
  .venv/bin/python -c 'import json, sys
try: print(json.load(sys.stdin).get("code", ""))
except ValueError: pass'
}

# POST $2 (JSON) to $1 with the Idempotency-Key demo-<today>-$3 (a second demo run on the
# same day replays the answers, posting nothing twice); prints the answer, sets LAST to it.
post() {
  local key="demo-$(date -u +%F)-$3"
  LAST=$(curl -s "${JSON[@]}" "${AUTH[@]}" -H "Idempotency-Key: $key" -X POST "$API$1" -d "$2")
  echo "$LAST"
}

# Field $1 of the JSON object in $LAST.
field() { .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)['$1'])" <<<"$LAST"; }

api_billing() {
  local today customer invoice
  today=$(date -u +%F)
  say "A customer, and an invoice for 1,200.00 USD of consulting plus 10% tax, finalized"
  post /v1/customers '{"name":"Globex","email":"ap@globex.example.com","currency":"USD"}' customer
  customer=$(field id)
  post /v1/invoices "{\"customer\":\"$customer\",\"lines\":[{\"description\":\"Consulting\",
    \"quantity\":\"8\",\"unit_amount\":15000,\"tax_rate_bps\":1000}]}" invoice >/dev/null
  invoice=$(field id)
  post "/v1/invoices/$invoice/finalize" "{\"issue_date\":\"$today\"}" finalize
  say "The customer pays 1,000.00, then a credit note of 100.00 (a discount agreed late)"
  post /v1/payments "{\"customer\":\"$customer\",\"amount\":100000,\"method\":\"bank_transfer\"}" payment
  post /v1/credit-notes "{\"invoice\":\"$invoice\",\"amount\":10000,\"reason\":\"order_change\"}" credit-note
  say "What the invoice still owes, and the books: trial balance and AR aging"
  curl -sf "${AUTH[@]}" "$API/v1/invoices/$invoice" | .venv/bin/python -c 'import json,sys
i=json.load(sys.stdin); print({k: i[k] for k in ("number","status","total","amount_paid","amount_credited","amount_remaining")})'
  curl -sf "${AUTH[@]}" "$API/v1/reports/trial-balance"; echo
  curl -sf "${AUTH[@]}" "$API/v1/reports/ar-aging"; echo
  say "The audit chain, recomputed; and the journal checked by hledger, an independent tool"
  curl -sf "${AUTH[@]}" "$API/v1/audit-events/verify"; echo
  curl -sf "${AUTH[@]}" "$API/v1/exports/ledger.journal" >"$ROOT/.run/demo.journal"
  hledger -f "$ROOT/.run/demo.journal" check --strict && echo "hledger check --strict: ok"
  hledger -f "$ROOT/.run/demo.journal" balance --flat
}

# A backup of the demo database to the local S3 server (versitygw) as the read-only
# BYPASSRLS backup role, restored into a throwaway server and checked, then listed.
api_backup() {
  local scratch; scratch=$(mktemp -d /tmp/ua-demo-scratch-XXXXXX); chmod 711 "$scratch"
  export BACKUP_S3_BUCKET=ua-demo-backups BACKUP_S3_PREFIX=demo BACKUP_SCRATCH_DIR=$scratch
  .venv/bin/python -c 'import os; from accounting_api.objectstore import Bucket
Bucket(os.environ["BACKUP_S3_BUCKET"], endpoint=os.environ["BACKUP_S3_ENDPOINT"]).create()'
  say "A backup to S3: pg_dump streamed with its SHA-256, and a manifest of the books"
  .venv/bin/accounting-api backup
  say "Every untested backup restored into a throwaway PostgreSQL and checked"
  .venv/bin/accounting-api backup verify | .venv/bin/python -c 'import json, sys
for v in json.load(sys.stdin)["verified"]:
    print(v["key"], "passed" if v["passed"] else "FAILED: " + v["first_failure"],
          "(restore", v["restore_seconds"], "s, checks", v["checks_seconds"], "s)")'
  say "The backups, newest first"
  .venv/bin/accounting-api backup list
  rm -rf "$scratch"
}

api_walkthrough() {
  api_sign_in
  CASH=$(account 1000); EQUITY=$(account 3000); REVENUE=$(account 4000)

  say "Owner invests 10,000.00 USD (idempotent: run the demo twice, it posts once)"
  # One key a day, as post()'s: the entry is dated today, and a key sent again with another
  # body (yesterday's date) is refused for as long as the key is kept (24 h).
  post_entry "Owner investment" "$CASH" "$EQUITY" 1000000 1000000 \
    -f -H "Idempotency-Key: demo-$(date -u +%F)-investment"
  say "An unbalanced entry is refused with a problem+json, and nothing is written"
  post_entry "Unbalanced" "$CASH" "$REVENUE" 500 400
  say "Cash balance"
  curl -sf "${AUTH[@]}" "$API/v1/accounts/$CASH/balance"; echo
  api_billing
  api_backup
  say "Health"
  curl -s "$API/health"; echo
}

api_usage() {
  cat <<TXT

The API is serving on $API (log: .run/demo-api.log). Try:
  export TOKEN=$TOKEN
  curl -s -H "authorization: Bearer \$TOKEN" '$API/v1/accounts?limit=5'
  curl -s -H "authorization: Bearer \$TOKEN" '$API/v1/journal-entries?limit=5'
  curl -s -H "authorization: Bearer \$TOKEN" '$API/v1/accounts/$CASH/balance?as_of=$(date -u +%F)'
  curl -s '$API/openapi.json' | head -c 300; echo
  curl -s '$API/metrics' | grep http_request_duration_seconds_count
Sign in as $EMAIL / $OWNER_PASSWORD.
TXT
}

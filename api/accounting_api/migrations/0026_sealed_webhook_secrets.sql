-- Webhook signing secrets sealed at rest (docs/webhook-secrets.md). An expand step: the
-- previous version keeps working, and its plaintext column stays (a later contract step
-- may drop it once no version that reads it can run).

-- The sealed secret (AES-256-GCM under WEBHOOK_SECRET_KEYS, bound to the organization and
-- the endpoint). This version never writes `secret`: the worker's pass and `accounting-api
-- webhooks rekey` seal what the previous version wrote and clear it. A row has one or the
-- other (the previous version's inserts fill `secret`).
ALTER TABLE webhook_endpoints ADD COLUMN secret_sealed text;
ALTER TABLE webhook_endpoints ALTER COLUMN secret DROP NOT NULL;
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_has_secret
  CHECK (secret IS NOT NULL OR secret_sealed IS NOT NULL);
GRANT UPDATE (secret, secret_sealed) ON webhook_endpoints TO accounting_app;

-- The previous version signs a claimed delivery with `secret`, which a sealed row no longer
-- has: it would claim the delivery, then fail on the missing secret with the rest of the
-- organization's batch. Its claims never set claimed_at (this version's always do): those
-- skip a delivery whose endpoint has no plaintext secret, which stays pending, untouched
-- (its attempts unchanged), until a version that opens sealed secrets claims it.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_at timestamptz;
GRANT UPDATE (claimed_at) ON webhook_deliveries TO accounting_app;

CREATE FUNCTION skip_claim_without_plaintext_secret() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM webhook_endpoints w
              WHERE w.id = NEW.endpoint_id AND w.secret IS NULL) THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER webhook_deliveries_claimed_without_key
  BEFORE UPDATE OF attempts ON webhook_deliveries
  FOR EACH ROW
  WHEN (NEW.attempts > OLD.attempts AND NEW.claimed_at IS NOT DISTINCT FROM OLD.claimed_at)
  EXECUTE FUNCTION skip_claim_without_plaintext_secret();

-- The organizations with a secret still to seal under the current key: in the clear, or
-- sealed under another key of the ring.
CREATE FUNCTION organizations_with_webhook_secrets_to_seal(p_current_key text)
  RETURNS SETOF text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT DISTINCT organization_id FROM webhook_endpoints
   WHERE secret IS NOT NULL OR split_part(secret_sealed, ':', 1) <> p_current_key $$;
REVOKE ALL ON FUNCTION organizations_with_webhook_secrets_to_seal(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION organizations_with_webhook_secrets_to_seal(text) TO accounting_app;

-- A stored Idempotency-Key answer that holds a secret (a new endpoint's) is kept sealed
-- here, bound to its scope and key; response_body then holds the same answer without the
-- secret, which is what the previous version replays.
ALTER TABLE idempotency_keys ADD COLUMN response_sealed text;

-- Webhook hardening: dead-lettered deliveries, endpoints that can be disabled or
-- deleted, deliveries addressable by the API, and events for the invoice and refund
-- changes 0006 left silent (invoice.overdue, invoice.voided,
-- invoice.marked_uncollectible, refund.created).

-- An endpoint is never removed (its deliveries refer to it): deleting it sets
-- deleted_at, after which it is neither listed nor sent anything. A disabled endpoint
-- keeps its pending deliveries until it is enabled again, and gets no new ones.
ALTER TABLE webhook_endpoints
  ADD COLUMN disabled_at timestamptz,
  ADD COLUMN deleted_at timestamptz;

-- failed: the worker gave up after the last allowed attempt (or the endpoint was
-- deleted). Kept, never deleted; a retry through the API makes it pending again.
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_status_check;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_status_check
  CHECK (status IN ('pending', 'delivered', 'failed'));
-- The id clients see: opaque, like the event ids of emit_event.
ALTER TABLE webhook_deliveries ADD COLUMN public_id text NOT NULL UNIQUE
  DEFAULT 'whd_' || replace(gen_random_uuid()::text, '-', '');
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE OR REPLACE FUNCTION emit_event(p_organization_id text, p_type text, p_data jsonb)
  RETURNS void
  LANGUAGE sql AS $$
  WITH event AS (
    INSERT INTO outbox_events (id, organization_id, type, data)
    VALUES ('evt_' || replace(gen_random_uuid()::text, '-', ''), p_organization_id, p_type,
            p_data)
    RETURNING id, organization_id)
  INSERT INTO webhook_deliveries (organization_id, event_id, endpoint_id)
  SELECT event.organization_id, event.id, w.id
    FROM event JOIN webhook_endpoints w ON w.organization_id = event.organization_id
   WHERE w.disabled_at IS NULL AND w.deleted_at IS NULL $$;

CREATE OR REPLACE FUNCTION emit_invoice_events() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'draft' AND NEW.status <> 'draft' THEN
    PERFORM emit_event(NEW.organization_id, 'invoice.finalized', invoice_event_data(NEW));
  END IF;
  IF NEW.status = 'paid' THEN
    PERFORM emit_event(NEW.organization_id, 'invoice.paid', invoice_event_data(NEW));
  ELSIF NEW.status = 'void' THEN
    PERFORM emit_event(NEW.organization_id, 'invoice.voided', invoice_event_data(NEW));
  ELSIF NEW.status = 'uncollectible' THEN
    PERFORM emit_event(NEW.organization_id, 'invoice.marked_uncollectible',
                       invoice_event_data(NEW));
  END IF;
  RETURN NULL;
END $$;

-- The worker's overdue mark, in the transaction that sets it.
CREATE FUNCTION emit_invoice_overdue_event() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM emit_event(NEW.organization_id, 'invoice.overdue', invoice_event_data(NEW));
  RETURN NULL;
END $$;

CREATE TRIGGER invoices_emit_overdue_event AFTER UPDATE OF overdue_at ON invoices
  FOR EACH ROW WHEN (OLD.overdue_at IS NULL AND NEW.overdue_at IS NOT NULL)
  EXECUTE FUNCTION emit_invoice_overdue_event();

CREATE FUNCTION emit_refund_event() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM emit_event(NEW.organization_id, 'refund.created', jsonb_build_object(
    'object', 'refund', 'id', NEW.id, 'payment', NEW.payment_id, 'currency', NEW.currency,
    'amount', NEW.amount, 'date', NEW.refunded_on, 'reason', NEW.reason));
  RETURN NULL;
END $$;

CREATE TRIGGER refunds_emit_events AFTER INSERT ON refunds
  FOR EACH ROW EXECUTE FUNCTION emit_refund_event();

-- Discovery skips deliveries waiting for a disabled endpoint: nothing to do there.
CREATE POLICY worker_discovery ON webhook_endpoints FOR SELECT
  USING (current_user <> session_user);

CREATE OR REPLACE FUNCTION organizations_with_due_deliveries() RETURNS SETOF text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT DISTINCT d.organization_id FROM webhook_deliveries d
    JOIN webhook_endpoints w ON w.id = d.endpoint_id
   WHERE d.status = 'pending' AND d.next_attempt_at <= now()
     AND w.disabled_at IS NULL AND w.deleted_at IS NULL $$;

GRANT UPDATE (disabled_at, deleted_at) ON webhook_endpoints TO accounting_app;

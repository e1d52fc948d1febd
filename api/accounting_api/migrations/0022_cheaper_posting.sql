-- Less work for the primary per posting, every guarantee kept (BENCHMARKS.md, "API
-- posting": a profile of a backend posting single entries put 20% of its CPU in the
-- SECURITY DEFINER calls of the ledger-version bump and 11% in parsing and planning the
-- bump's SQL function anew on every call).
--
-- 1. The bump at commit (0013) runs its upsert itself: a plpgsql statement keeps its
--    plan for the session, while the SQL function bump_ledger_version() it called was
--    parsed and planned again on every call (SQL functions cache nothing across queries).
--    Same version rows, same slot, same once-per-transaction memo, still the last lock
--    the transaction takes. bump_ledger_version() stays for its other callers.
-- 2. record_audit_events writes several events (a batch of 1,000 entries records 1,000)
--    with one set-based INSERT instead of one INSERT per event: one executor start-up,
--    one pass over the checks, where the loop paid ~0.1 ms per event. Each event's before
--    state is still the after state of the latest event on its object, events of the same
--    call included in array order. A single event keeps the plain insert (measured: the
--    set-based plan costs a single event more than it saves).
-- 3. Fewer indexes on audit_events, which every mutating request writes:
--    - the chain's (organization_id, seq) uniqueness becomes a partial unique index over
--      linked events: an event is recorded unlinked (seq NULL), so the index it got at
--      record time held nothing the check needed; linking still cannot give two events
--      one place in the chain.
--    - audit_events_by_action goes: listing by action reads the time index and filters
--      (the audit list is an admin's occasional read; every write paid for the index).

CREATE OR REPLACE FUNCTION bump_ledger_version_once() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  org text := CASE WHEN TG_OP = 'DELETE' THEN OLD.organization_id ELSE NEW.organization_id END;
  done text := coalesce(current_setting('ua.ledger_version_bumped', true), '');
BEGIN
  IF position(',' || org || ',' IN done) = 0 THEN
    INSERT INTO ledger_versions AS v (organization_id, slot, version)
    VALUES (org, pg_backend_pid() % 16, 1)
    ON CONFLICT (organization_id, slot) DO UPDATE SET version = v.version + 1;
    PERFORM set_config('ua.ledger_version_bumped',
                       CASE WHEN done = '' THEN ',' ELSE done END || org || ',', true);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION record_audit_events(
  p_organization_id text, p_actor_user_id text, p_request_id text, p_occurred_at timestamptz,
  p_ids text[], p_actions text[], p_object_types text[], p_object_ids text[],
  p_target_ids text[], p_after text[]
) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF cardinality(p_ids) = 1 THEN
    -- One event (most requests): the plain insert, cheaper than the set-based one.
    INSERT INTO audit_events (id, organization_id, actor_user_id, action, object_type,
        object_id, target_id, request_id, before_sha256, after_sha256, occurred_at)
      VALUES (p_ids[1], p_organization_id, p_actor_user_id, p_actions[1], p_object_types[1],
        p_object_ids[1], p_target_ids[1], p_request_id,
        (SELECT after_sha256 FROM audit_events
          WHERE organization_id = p_organization_id AND object_id = p_object_ids[1]
          ORDER BY occurred_at DESC, id DESC LIMIT 1),
        p_after[1], p_occurred_at);
    RETURN;
  END IF;
  INSERT INTO audit_events (id, organization_id, actor_user_id, action, object_type,
      object_id, target_id, request_id, before_sha256, after_sha256, occurred_at)
  SELECT e.id, p_organization_id, p_actor_user_id, e.action, e.object_type, e.object_id,
         e.target_id, p_request_id,
         CASE WHEN e.nth = 1 THEN
           (SELECT a.after_sha256 FROM audit_events a
             WHERE a.organization_id = p_organization_id AND a.object_id = e.object_id
             ORDER BY a.occurred_at DESC, a.id DESC LIMIT 1)
         ELSE e.earlier_after END,
         e.after_sha256, p_occurred_at
    FROM (SELECT u.*,
                 row_number() OVER same_object AS nth,
                 lag(u.after_sha256) OVER same_object AS earlier_after
            FROM unnest(p_ids, p_actions, p_object_types, p_object_ids, p_target_ids, p_after)
                 WITH ORDINALITY
                 AS u(id, action, object_type, object_id, target_id, after_sha256, ord)
          WINDOW same_object AS (PARTITION BY u.object_id ORDER BY u.ord)) e
   ORDER BY e.ord;
END $$;

CREATE UNIQUE INDEX audit_events_chain_position ON audit_events (organization_id, seq)
  WHERE seq IS NOT NULL;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_organization_id_seq_key;
DROP INDEX audit_events_by_action;

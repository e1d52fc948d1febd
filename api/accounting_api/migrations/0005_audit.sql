-- The audit trail: one event per change made through the API, in a per-organization
-- hash chain. Each event's hash is sha256(previous hash || sha256 of its own canonical
-- content), so changing, removing or reordering any event breaks every link after it.
--
-- Events are written in the transaction of the change they describe, at its very end:
-- append_audit_events() takes a per-organization advisory lock (held to commit), reads
-- the chain's head and links the new events after it. Writers therefore serialize only
-- for that last statement and the commit, not for the whole transaction, and no row is
-- updated: the head is just the event with the highest seq.
--
-- The app role may SELECT events and append them through that function only: it has no
-- INSERT, UPDATE or DELETE on the table, and a trigger refuses UPDATE and DELETE from
-- anyone (the owner must disable it to tamper, which is what verify detects).

CREATE TABLE audit_events (
  id              text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id),
  seq             bigint NOT NULL CHECK (seq >= 1),
  actor_user_id   text,
  action          text NOT NULL CHECK (action ~ '^[a-z][a-z_]*\.[a-z][a-z_]*$'),
  object_type     text NOT NULL CHECK (length(object_type) BETWEEN 1 AND 64),
  object_id       text NOT NULL CHECK (length(object_id) BETWEEN 1 AND 128),
  target_id       text,
  request_id      text,
  before_sha256   text CHECK (before_sha256 ~ '^[0-9a-f]{64}$'),
  after_sha256    text CHECK (after_sha256 ~ '^[0-9a-f]{64}$'),
  occurred_at     timestamptz NOT NULL,
  prev_hash       text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash            text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  UNIQUE (organization_id, seq)
);
CREATE INDEX audit_events_by_object ON audit_events (organization_id, object_id, seq);
CREATE INDEX audit_events_by_action ON audit_events (organization_id, action, seq);

CREATE FUNCTION forbid_audit_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit events are append-only'
    USING ERRCODE = 'object_not_in_prerequisite_state';
END $$;

CREATE TRIGGER audit_events_immutable BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION forbid_audit_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_audit_change();

-- Append events (in array order) to the current tenant's chain. Meant as the last
-- statement before COMMIT: the lock it takes is released only then, so the next
-- writer reads a head that is committed.
CREATE FUNCTION append_audit_events(
  p_actor_user_id text, p_request_id text, p_occurred_at timestamptz,
  p_ids text[], p_actions text[], p_object_types text[], p_object_ids text[],
  p_target_ids text[], p_before text[], p_after text[], p_content_sha256 text[]
) RETURNS SETOF audit_events
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  org text := app_current_org();
  head_seq bigint;
  head_hash text;
  link text;
  i integer;
BEGIN
  IF org IS NULL THEN
    RAISE EXCEPTION 'no organization is set' USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  PERFORM pg_advisory_xact_lock(44225, hashtext(org));
  SELECT seq, hash INTO head_seq, head_hash FROM audit_events
   WHERE organization_id = org ORDER BY seq DESC LIMIT 1;
  head_seq := coalesce(head_seq, 0);
  head_hash := coalesce(head_hash, repeat('0', 64));
  FOR i IN 1 .. coalesce(cardinality(p_ids), 0) LOOP
    link := encode(sha256(convert_to(head_hash || p_content_sha256[i], 'UTF8')), 'hex');
    RETURN QUERY INSERT INTO audit_events (id, organization_id, seq, actor_user_id, action,
        object_type, object_id, target_id, request_id, before_sha256, after_sha256,
        occurred_at, prev_hash, hash)
      VALUES (p_ids[i], org, head_seq + i, p_actor_user_id, p_actions[i], p_object_types[i],
        p_object_ids[i], p_target_ids[i], p_request_id, p_before[i], p_after[i],
        p_occurred_at, head_hash, link)
      RETURNING *;
    head_hash := link;
  END LOOP;
END $$;

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
  USING (organization_id IS NOT DISTINCT FROM app_current_org())
  WITH CHECK (organization_id IS NOT DISTINCT FROM app_current_org());

REVOKE ALL ON audit_events FROM PUBLIC;
REVOKE ALL ON FUNCTION forbid_audit_change(), append_audit_events(text, text, timestamptz,
  text[], text[], text[], text[], text[], text[], text[], text[]) FROM PUBLIC;
GRANT SELECT ON audit_events TO accounting_app;
GRANT EXECUTE ON FUNCTION append_audit_events(text, text, timestamptz, text[], text[], text[],
  text[], text[], text[], text[], text[]) TO accounting_app;

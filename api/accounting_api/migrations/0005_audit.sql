-- The audit trail: one event per change made through the API, in a per-organization
-- hash chain. Each event's hash is sha256(previous hash || sha256 of its own canonical
-- content), so changing, removing or reordering any linked event breaks every link
-- after it.
--
-- Record now, link later. An event is inserted in the transaction of the change it
-- describes (record_audit_events, one statement, no lock), UNLINKED: seq, prev_hash and
-- hash are NULL. link_audit_events() later takes a per-organization advisory lock in a
-- short transaction of its own, reads the chain's head (the event with the highest seq)
-- and links the organization's committed unlinked events after it, in (occurred_at, id)
-- order. Writers of an organization therefore never wait for each other to commit.
--
-- The chain's order is the LINK order: an event whose transaction commits after a
-- linking pass has run is linked by a later pass, after events that occurred later
-- than it. seq is the position in the chain, not a timeline; occurred_at is.
--
-- The app role may SELECT events and write them through the functions below only: it
-- has no INSERT, UPDATE or DELETE on the table. A trigger refuses every UPDATE and
-- DELETE from anyone except linking an unlinked event once (setting seq, prev_hash and
-- hash and nothing else); the owner must disable it to tamper, which verify detects.

CREATE TABLE audit_events (
  id              text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id),
  seq             bigint CHECK (seq >= 1),
  actor_user_id   text,
  action          text NOT NULL CHECK (action ~ '^[a-z][a-z_]*\.[a-z][a-z_]*$'),
  object_type     text NOT NULL CHECK (length(object_type) BETWEEN 1 AND 64),
  object_id       text NOT NULL CHECK (length(object_id) BETWEEN 1 AND 128),
  target_id       text,
  request_id      text,
  before_sha256   text CHECK (before_sha256 ~ '^[0-9a-f]{64}$'),
  after_sha256    text CHECK (after_sha256 ~ '^[0-9a-f]{64}$'),
  occurred_at     timestamptz NOT NULL,
  prev_hash       text CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash            text CHECK (hash ~ '^[0-9a-f]{64}$'),
  UNIQUE (organization_id, seq),
  CONSTRAINT audit_event_linked_whole
    CHECK ((seq IS NULL) = (hash IS NULL) AND (prev_hash IS NULL) = (hash IS NULL))
);
CREATE INDEX audit_events_by_time ON audit_events (organization_id, occurred_at, id);
CREATE INDEX audit_events_by_object ON audit_events (organization_id, object_id, occurred_at, id);
CREATE INDEX audit_events_by_action ON audit_events (organization_id, action, occurred_at, id);
CREATE INDEX audit_events_unlinked ON audit_events (organization_id, occurred_at, id)
  WHERE hash IS NULL;

CREATE FUNCTION forbid_audit_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  -- Linking: an unlinked event gets its place in the chain, once, and nothing else.
  IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND NEW.hash IS NOT NULL
     AND to_jsonb(NEW) - 'seq' - 'prev_hash' - 'hash'
       = to_jsonb(OLD) - 'seq' - 'prev_hash' - 'hash' THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit events are append-only'
    USING ERRCODE = 'object_not_in_prerequisite_state';
END $$;

CREATE TRIGGER audit_events_immutable BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION forbid_audit_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION forbid_audit_change();

-- sha256 of an event's canonical content: its own fields (not its place in the chain)
-- as JSON with sorted keys; domain/audit.py computes the same text to verify.
CREATE FUNCTION audit_content_sha256(e audit_events) RETURNS text
  LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
  SELECT encode(sha256(convert_to(json_build_object(
    'action', e.action, 'actor_user_id', e.actor_user_id, 'after_sha256', e.after_sha256,
    'before_sha256', e.before_sha256, 'id', e.id, 'object_id', e.object_id,
    'object_type', e.object_type,
    'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'organization_id', e.organization_id, 'request_id', e.request_id,
    'target_id', e.target_id)::text, 'UTF8')), 'hex') $$;

-- Record events (unlinked) for an organization, in the caller's transaction, without
-- a lock. Each event's before state is the after state of the latest event on its
-- object (events of this call included, in array order: the ids must sort in it).
CREATE FUNCTION record_audit_events(
  p_organization_id text, p_actor_user_id text, p_request_id text, p_occurred_at timestamptz,
  p_ids text[], p_actions text[], p_object_types text[], p_object_ids text[],
  p_target_ids text[], p_after text[]
) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  i integer;
BEGIN
  FOR i IN 1 .. coalesce(cardinality(p_ids), 0) LOOP
    INSERT INTO audit_events (id, organization_id, actor_user_id, action, object_type,
        object_id, target_id, request_id, before_sha256, after_sha256, occurred_at)
      VALUES (p_ids[i], p_organization_id, p_actor_user_id, p_actions[i], p_object_types[i],
        p_object_ids[i], p_target_ids[i], p_request_id,
        (SELECT after_sha256 FROM audit_events
          WHERE organization_id = p_organization_id AND object_id = p_object_ids[i]
          ORDER BY occurred_at DESC, id DESC LIMIT 1),
        p_after[i], p_occurred_at);
  END LOOP;
END $$;

-- Link up to p_limit of the organization's committed unlinked events after its chain's
-- head, in (occurred_at, id) order; returns how many. Run it in a short transaction of
-- its own, with that organization set as the tenant: the lock is held until commit.
CREATE FUNCTION link_audit_events(p_organization_id text, p_limit int) RETURNS int
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  head_seq bigint;
  head_hash text;
  e audit_events;
  linked integer := 0;
BEGIN
  IF p_organization_id IS DISTINCT FROM app_current_org() THEN
    RAISE EXCEPTION 'link_audit_events: % is not the current organization', p_organization_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  PERFORM pg_advisory_xact_lock(44225, hashtext(p_organization_id));
  SELECT seq, hash INTO head_seq, head_hash FROM audit_events
   WHERE organization_id = p_organization_id AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1;
  head_seq := coalesce(head_seq, 0);
  head_hash := coalesce(head_hash, repeat('0', 64));
  FOR e IN SELECT * FROM audit_events
            WHERE organization_id = p_organization_id AND hash IS NULL
            ORDER BY occurred_at, id LIMIT p_limit LOOP
    head_seq := head_seq + 1;
    UPDATE audit_events
       SET seq = head_seq, prev_hash = head_hash,
           hash = encode(sha256(convert_to(head_hash || audit_content_sha256(e), 'UTF8')), 'hex')
     WHERE id = e.id
    RETURNING hash INTO head_hash;
    linked := linked + 1;
  END LOOP;
  RETURN linked;
END $$;

CALL enable_tenant_isolation(ARRAY['audit_events']);
-- The SECURITY DEFINER functions (only) record for the organization they are given
-- and find which organizations have events to link.
CREATE POLICY definer_access ON audit_events FOR SELECT
  USING (current_user <> session_user);
CREATE POLICY definer_record ON audit_events FOR INSERT
  WITH CHECK (current_user <> session_user);

CREATE FUNCTION organizations_with_unlinked_audit_events() RETURNS SETOF text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT DISTINCT organization_id FROM audit_events WHERE hash IS NULL $$;

REVOKE ALL ON audit_events FROM PUBLIC;
REVOKE ALL ON FUNCTION forbid_audit_change(), audit_content_sha256(audit_events),
  record_audit_events(text, text, text, timestamptz, text[], text[], text[], text[], text[],
  text[]), link_audit_events(text, int), organizations_with_unlinked_audit_events() FROM PUBLIC;
GRANT SELECT ON audit_events TO accounting_app;
GRANT EXECUTE ON FUNCTION record_audit_events(text, text, text, timestamptz, text[], text[],
  text[], text[], text[], text[]), link_audit_events(text, int),
  organizations_with_unlinked_audit_events() TO accounting_app;

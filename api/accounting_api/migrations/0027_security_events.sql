-- Security events, per organization under row-level security: sign-ins that succeed or
-- fail, tokens refused because they have ended, and changes to who may do what (roles,
-- deactivation, removal, passwords, sign-outs). Owners and admins read them
-- (GET /v1/security-events); each is also one JSON log line. Events of no organization
-- (a sign-in with an unknown e-mail) are logged and stored without one: no tenant sees them.

CREATE TABLE security_events (
  id              text PRIMARY KEY,
  organization_id text REFERENCES organizations (id),
  occurred_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  event           text NOT NULL CHECK (event ~ '^[a-z][a-z_]*\.[a-z][a-z_]*$'),
  severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  user_id         text,
  client_ip       text CHECK (length(client_ip) <= 64),
  request_id      text CHECK (length(request_id) <= 128),
  detail          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object')
);
CREATE INDEX security_events_by_time ON security_events (organization_id, occurred_at, id);

CALL enable_tenant_isolation(ARRAY['security_events']);
-- Append-only for the app: it records and reads, never changes or deletes.
GRANT SELECT, INSERT ON security_events TO accounting_app;

-- Tenants, users, the chart of accounts and the immutable, balanced ledger.
-- Every tenant-owned table has organization_id and FORCE ROW LEVEL SECURITY; the
-- app connects as a member of accounting_app, which owns nothing and may only
-- SELECT/INSERT ledger rows.

DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'accounting_app') THEN
    CREATE ROLE accounting_app NOLOGIN;
  END IF;
END $$;

-- The tenant of the current transaction; NULL (so every policy matches nothing)
-- when a query forgets to set it.
CREATE FUNCTION app_current_org() RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(current_setting('app.organization_id', true), '') $$;

CREATE TABLE organizations (
  id            text PRIMARY KEY,
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  base_currency text NOT NULL CHECK (base_currency ~ '^[A-Z]{3}$'),
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id              text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id),
  email           text NOT NULL CHECK (email = lower(email)),
  name            text NOT NULL DEFAULT '',
  role            text NOT NULL CHECK (role IN ('owner', 'admin', 'accountant', 'viewer')),
  password_hash   text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id)
);

-- The login directory: which organization an email signs in to. The app may add to
-- it but never read it; it asks find_login(), which returns one row at a time.
CREATE TABLE user_logins (
  email           text PRIMARY KEY CHECK (email = lower(email)),
  organization_id text NOT NULL,
  user_id         text NOT NULL,
  FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id)
);

CREATE FUNCTION find_login(p_email text)
  RETURNS TABLE (organization_id text, user_id text)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$ SELECT organization_id, user_id FROM user_logins WHERE email = lower(p_email) $$;

CREATE TABLE accounts (
  id              text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (id),
  code            text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'),
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  type            text NOT NULL CHECK (type IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
  currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  normal_balance  text NOT NULL CHECK (normal_balance IN ('debit', 'credit')),
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, code),
  UNIQUE (organization_id, id, currency)
);

CREATE TABLE journal_entries (
  id                text PRIMARY KEY,
  organization_id   text NOT NULL REFERENCES organizations (id),
  entry_date        date NOT NULL,
  description       text NOT NULL CHECK (length(description) <= 1000),
  reverses_entry_id text,
  created_by        text,
  request_id        text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  -- The transaction that wrote the entry: postings may only join it there.
  created_txid      bigint NOT NULL DEFAULT txid_current(),
  UNIQUE (organization_id, id, entry_date),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, reverses_entry_id) REFERENCES journal_entries (organization_id, id)
);
CREATE UNIQUE INDEX journal_entries_one_reversal ON journal_entries (reverses_entry_id)
  WHERE reverses_entry_id IS NOT NULL;
CREATE INDEX journal_entries_by_date ON journal_entries (organization_id, entry_date, id);

-- amount is signed: debits positive, credits negative.
CREATE TABLE postings (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id  text NOT NULL,
  journal_entry_id text NOT NULL,
  line             smallint NOT NULL CHECK (line >= 0),
  account_id       text NOT NULL,
  currency         text NOT NULL,
  amount           bigint NOT NULL CHECK (amount <> 0 AND amount > -9223372036854775808),
  entry_date       date NOT NULL,
  UNIQUE (journal_entry_id, line),
  FOREIGN KEY (organization_id, journal_entry_id, entry_date)
    REFERENCES journal_entries (organization_id, id, entry_date),
  FOREIGN KEY (organization_id, account_id, currency)
    REFERENCES accounts (organization_id, id, currency)
);
CREATE INDEX postings_by_account ON postings (organization_id, account_id, entry_date) INCLUDE (amount);

-- Balanced per currency with at least two postings, checked at commit (one query per
-- entry) so the postings of an entry may be written after it, statement by statement.
CREATE FUNCTION check_entry_balanced() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  n bigint := 0;
  line record;
BEGIN
  FOR line IN SELECT currency, sum(amount) AS total, count(*) AS postings
                FROM postings WHERE journal_entry_id = NEW.id GROUP BY currency LOOP
    n := n + line.postings;
    IF line.total <> 0 THEN
      RAISE EXCEPTION 'journal entry % is unbalanced in %: debits minus credits = %',
        NEW.id, line.currency, line.total
        USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_balanced';
    END IF;
  END LOOP;
  IF n < 2 THEN
    RAISE EXCEPTION 'journal entry % has % postings; at least two are required', NEW.id, n
      USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_balanced';
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_entry_balanced();

-- Postings may only join an entry written by the same transaction: a committed entry
-- is closed for good. Checked once per statement, after it, so one statement may
-- write entries and their postings together.
CREATE FUNCTION check_postings_join_new_entries() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  joined text[];
  open_entries bigint;
BEGIN
  -- An array probe keeps this an index lookup per entry whatever the table's size.
  SELECT array_agg(DISTINCT journal_entry_id) INTO joined FROM new_postings;
  SELECT count(*) INTO open_entries FROM journal_entries
   WHERE id = ANY (joined) AND created_txid = txid_current();
  IF open_entries <> cardinality(joined) THEN
    RAISE EXCEPTION 'journal entries are immutable: postings may only be added to an entry '
      'in the transaction that creates it; post a reversal instead'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER postings_join_new_entries AFTER INSERT ON postings
  REFERENCING NEW TABLE AS new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION check_postings_join_new_entries();

CREATE FUNCTION forbid_ledger_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows are immutable: post a reversal instead', TG_TABLE_NAME
    USING ERRCODE = 'object_not_in_prerequisite_state';
END $$;

CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries
  FOR EACH ROW EXECUTE FUNCTION forbid_ledger_change();
CREATE TRIGGER postings_immutable BEFORE UPDATE OR DELETE ON postings
  FOR EACH ROW EXECUTE FUNCTION forbid_ledger_change();

-- Stored first responses of POSTs sent with an Idempotency-Key, written in the same
-- transaction as the effect. organization_id is NULL for unauthenticated requests.
CREATE TABLE idempotency_keys (
  scope           text NOT NULL,
  key             text NOT NULL,
  organization_id text,
  request_hash    text NOT NULL,
  status_code     integer NOT NULL,
  response_body   bytea NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

CREATE FUNCTION purge_idempotency_keys(older_than interval) RETURNS bigint
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH gone AS (DELETE FROM idempotency_keys WHERE created_at < now() - older_than RETURNING 1)
  SELECT count(*) FROM gone $$;

-- Row-level security: the same tenant policy on every tenant-owned table.
-- The tenant policy every tenant-owned table gets; this and later migrations call it.
CREATE PROCEDURE enable_tenant_isolation(
  tables text[], tenant_column text DEFAULT 'organization_id'
) LANGUAGE plpgsql AS $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY tables LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING (%2$I IS NOT DISTINCT FROM app_current_org()) '
      'WITH CHECK (%2$I IS NOT DISTINCT FROM app_current_org())', t, tenant_column);
  END LOOP;
END $$;
REVOKE ALL ON PROCEDURE enable_tenant_isolation(text[], text) FROM PUBLIC;

CALL enable_tenant_isolation(ARRAY['organizations'], 'id');
CALL enable_tenant_isolation(ARRAY['users', 'accounts', 'journal_entries', 'postings',
                                   'idempotency_keys']);

-- Maintenance functions (SECURITY DEFINER, so current_user is their owner) may purge
-- expired keys of every tenant; the app role itself has no DELETE privilege at all.
CREATE POLICY maintenance ON idempotency_keys USING (current_user <> session_user);

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON FUNCTION find_login(text), purge_idempotency_keys(interval) FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO accounting_app;
-- journal_entries: the app may not choose created_txid (the immutability check trusts
-- it) nor created_at.
GRANT SELECT ON journal_entries TO accounting_app;
GRANT INSERT (id, organization_id, entry_date, description, reverses_entry_id, created_by,
  request_id) ON journal_entries TO accounting_app;
GRANT SELECT, INSERT ON organizations, users, accounts, postings,
  idempotency_keys TO accounting_app;
GRANT UPDATE ON idempotency_keys TO accounting_app;
GRANT SELECT ON schema_migrations TO accounting_app;
GRANT INSERT ON user_logins TO accounting_app;
GRANT EXECUTE ON FUNCTION find_login(text), purge_idempotency_keys(interval),
  app_current_org() TO accounting_app;

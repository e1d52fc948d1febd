-- Two-factor sign-in (TOTP, RFC 6238; docs/two-factor.md). A second factor is the
-- person's, keyed by their login e-mail, not an organization's: second_factors has no
-- organization column, the app has no privilege on it at all, and its policy admits only
-- the role the SECURITY DEFINER functions below run as (as 0024 names it). Each function
-- acts for one member of the current organization (p_user, found under the users table's
-- row-level security), so a session of one tenant reaches no one else's factor.

CREATE TABLE second_factors (
  email           text PRIMARY KEY CHECK (email = lower(email)),
  -- The confirmed secret, sealed (AES-256-GCM under the platform key ring, bound to
  -- `second_factors.secret` and the e-mail); NULL until a code of it is confirmed.
  secret_sealed   text,
  confirmed_at    timestamptz,
  -- The last TOTP time step accepted: a code of it or an earlier step never works again.
  last_step       bigint NOT NULL DEFAULT 0 CHECK (last_step >= 0),
  -- sha256 of each unused recovery code (bound to the e-mail); a used one leaves.
  recovery_hashes text[] NOT NULL DEFAULT '{}',
  -- An enrolment started and not yet confirmed (a re-enrolment keeps the confirmed
  -- secret working until the new one is confirmed).
  pending_sealed  text,
  pending_since   timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CHECK ((secret_sealed IS NULL) = (confirmed_at IS NULL)),
  CHECK ((pending_sealed IS NULL) = (pending_since IS NULL)),
  CHECK (secret_sealed IS NOT NULL OR pending_sealed IS NOT NULL)
);
ALTER TABLE second_factors ENABLE ROW LEVEL SECURITY;
ALTER TABLE second_factors FORCE ROW LEVEL SECURITY;
DO $$ BEGIN
  EXECUTE format('CREATE POLICY definer_only ON second_factors USING (current_user = %L)'
                 ' WITH CHECK (current_user = %L)', current_user, current_user);
END $$;
REVOKE ALL ON second_factors FROM PUBLIC;

-- The e-mail of the current organization's member p_user (NULL: no such member).
CREATE FUNCTION second_factor_person(p_user text) RETURNS text
  LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT email FROM users
   WHERE id = p_user AND organization_id = app_current_org() AND removed_at IS NULL $$;

CREATE FUNCTION second_factor_of(p_user text)
  RETURNS TABLE (secret_sealed text, confirmed_at timestamptz, last_step bigint,
                 recovery_codes_left integer, pending_sealed text, pending_since timestamptz)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT f.secret_sealed, f.confirmed_at, f.last_step, cardinality(f.recovery_hashes),
         f.pending_sealed, f.pending_since
    FROM second_factors f WHERE f.email = second_factor_person(p_user) $$;

-- Start (or restart) an enrolment: a new pending secret; a confirmed one keeps working.
CREATE FUNCTION second_factor_start(p_user text, p_pending_sealed text) RETURNS boolean
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  INSERT INTO second_factors (email, pending_sealed, pending_since)
  SELECT person, p_pending_sealed, now() FROM second_factor_person(p_user) AS person
   WHERE person IS NOT NULL
  ON CONFLICT (email) DO UPDATE
    SET pending_sealed = EXCLUDED.pending_sealed, pending_since = now(), updated_at = now()
  RETURNING true $$;

-- The pending secret (exactly the one the code was checked against) becomes the factor,
-- with the code's step used and a new set of recovery codes.
CREATE FUNCTION second_factor_confirm(
  p_user text, p_pending_sealed text, p_step bigint, p_recovery_hashes text[]
) RETURNS boolean
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  UPDATE second_factors
     SET secret_sealed = pending_sealed, confirmed_at = now(), last_step = p_step,
         recovery_hashes = p_recovery_hashes, pending_sealed = NULL, pending_since = NULL,
         updated_at = now()
   WHERE email = second_factor_person(p_user) AND pending_sealed = p_pending_sealed
  RETURNING true $$;

-- A code of step p_step is used: only if no code of that step or a later one was (one
-- statement, so two requests racing with one code cannot both succeed). p_resealed: the
-- same secret sealed under the ring's current key, when it was opened with an older one.
CREATE FUNCTION second_factor_use_step(p_user text, p_step bigint, p_resealed text)
  RETURNS boolean
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  UPDATE second_factors
     SET last_step = p_step, secret_sealed = coalesce(p_resealed, secret_sealed),
         updated_at = now()
   WHERE email = second_factor_person(p_user) AND confirmed_at IS NOT NULL
     AND last_step < p_step
  RETURNING true $$;

-- A recovery code is used once: how many are left, or NULL when it was not one of them.
CREATE FUNCTION second_factor_use_recovery(p_user text, p_hash text) RETURNS integer
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  UPDATE second_factors
     SET recovery_hashes = array_remove(recovery_hashes, p_hash), updated_at = now()
   WHERE email = second_factor_person(p_user) AND confirmed_at IS NOT NULL
     AND p_hash = ANY (recovery_hashes)
  RETURNING cardinality(recovery_hashes) $$;

CREATE FUNCTION second_factor_set_recovery(p_user text, p_hashes text[]) RETURNS boolean
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  UPDATE second_factors SET recovery_hashes = p_hashes, updated_at = now()
   WHERE email = second_factor_person(p_user) AND confirmed_at IS NOT NULL
  RETURNING true $$;

CREATE FUNCTION second_factor_remove(p_user text) RETURNS boolean
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  DELETE FROM second_factors WHERE email = second_factor_person(p_user) RETURNING true $$;

-- Who of the current organization's active members has a confirmed second factor: the
-- "2FA coverage of owners and admins" of a compliance report is a GROUP BY role of this.
CREATE FUNCTION second_factor_coverage()
  RETURNS TABLE (user_id text, role text, enabled boolean, confirmed_at timestamptz)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT u.id, u.role, f.confirmed_at IS NOT NULL, f.confirmed_at
    FROM users u
    LEFT JOIN second_factors f ON f.email = u.email AND f.confirmed_at IS NOT NULL
   WHERE u.organization_id = app_current_org() AND u.removed_at IS NULL
     AND u.deactivated_at IS NULL
   ORDER BY u.id $$;

REVOKE ALL ON FUNCTION second_factor_person(text), second_factor_of(text),
  second_factor_start(text, text), second_factor_confirm(text, text, bigint, text[]),
  second_factor_use_step(text, bigint, text), second_factor_use_recovery(text, text),
  second_factor_set_recovery(text, text[]), second_factor_remove(text),
  second_factor_coverage() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION second_factor_of(text), second_factor_start(text, text),
  second_factor_confirm(text, text, bigint, text[]), second_factor_use_step(text, bigint, text),
  second_factor_use_recovery(text, text), second_factor_set_recovery(text, text[]),
  second_factor_remove(text), second_factor_coverage() TO accounting_app;

-- The organization's rule: who must have a second factor to get a full token.
ALTER TABLE organizations ADD COLUMN two_factor_required_for text NOT NULL DEFAULT 'none'
  CHECK (two_factor_required_for IN ('none', 'owners_and_admins'));
GRANT UPDATE (two_factor_required_for) ON organizations TO accounting_app;

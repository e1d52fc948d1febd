-- One person, several organizations (issue 14). A person is an e-mail address; each of
-- their memberships is a `users` row (so every foreign key, policy and audit reference
-- stays), with its own role, deactivation and removal. The person has one password: every
-- live membership of an e-mail holds the same hash, kept so by the triggers below (the
-- previous version reads and writes `users.password_hash` of its one row and keeps working).
-- The app still never reads other organizations' people: the SECURITY DEFINER functions
-- below return what a sign-in needs, one e-mail or one signed-in user at a time.
-- Expand only: nothing the previous version uses changes shape; `user_logins` keeps one
-- row per e-mail (the person's first membership), which is how the previous version
-- signs in.

-- A person is a member of an organization at most once at a time (the login directory
-- already guaranteed it: existing rows satisfy it).
CREATE UNIQUE INDEX users_one_membership ON users (organization_id, email)
  WHERE removed_at IS NULL;

-- The functions below run as their owner, the role running this migration.
DO $$ BEGIN
  EXECUTE format('CREATE POLICY people ON users USING (current_user = %L)', current_user);
  EXECUTE format('CREATE POLICY people ON organizations FOR SELECT USING (current_user = %L)',
                 current_user);
END $$;

-- Sign-in: the live memberships of an e-mail, the oldest first.
CREATE FUNCTION find_memberships(p_email text)
  RETURNS TABLE (organization_id text, user_id text, active boolean)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT organization_id, id, deactivated_at IS NULL FROM users
   WHERE email = lower(p_email) AND removed_at IS NULL
   ORDER BY created_at, id
$$;

-- The memberships of the person a user of the current organization is (the signed-in
-- caller): what a client needs to switch organizations.
CREATE FUNCTION person_memberships(p_user text)
  RETURNS TABLE (organization_id text, organization_name text, user_id text, role text,
                 active boolean)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT m.organization_id, o.name, m.id, m.role, m.deactivated_at IS NULL
    FROM users me
    JOIN users m ON m.email = me.email AND m.removed_at IS NULL
    JOIN organizations o ON o.id = m.organization_id
   WHERE me.id = p_user AND me.organization_id = app_current_org() AND me.removed_at IS NULL
   ORDER BY m.created_at, m.id
$$;

-- A new membership of an existing person takes the person's password, whatever hash the
-- writer brought: an admin adding someone never sets (or learns) their password.
CREATE FUNCTION users_join_person() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  shared text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('person:' || NEW.email, 0));
  SELECT password_hash INTO shared FROM users
   WHERE email = NEW.email AND removed_at IS NULL AND id <> NEW.id
   ORDER BY created_at, id LIMIT 1;
  IF FOUND THEN
    NEW.password_hash := shared;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER users_join_person BEFORE INSERT ON users
  FOR EACH ROW EXECUTE FUNCTION users_join_person();

-- A membership's new password is the person's: every other live membership takes it, and
-- users_end_tokens (0025) moves each one's token version on, so a password change ends
-- the person's tokens in every organization. The copies change no hash twice: it stops.
CREATE FUNCTION users_share_password() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('person:' || NEW.email, 0));
  UPDATE users SET password_hash = NEW.password_hash
   WHERE email = NEW.email AND id <> NEW.id AND removed_at IS NULL
     AND password_hash IS DISTINCT FROM NEW.password_hash;
  RETURN NULL;
END $$;

CREATE TRIGGER users_share_password AFTER UPDATE OF password_hash ON users
  FOR EACH ROW WHEN (NEW.password_hash IS DISTINCT FROM OLD.password_hash)
  EXECUTE FUNCTION users_share_password();

-- A removed membership leaves the login directory; the person's login moves to their
-- next live membership, if any (the previous version signs in through it).
CREATE OR REPLACE FUNCTION release_login(p_user text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  released text;
BEGIN
  DELETE FROM user_logins WHERE user_id = p_user AND organization_id = app_current_org()
    RETURNING email INTO released;
  IF released IS NULL THEN
    RETURN;
  END IF;
  INSERT INTO user_logins (email, organization_id, user_id)
  SELECT email, organization_id, id FROM users
   WHERE email = released AND removed_at IS NULL AND id <> p_user
   ORDER BY created_at, id LIMIT 1;
END $$;

REVOKE ALL ON FUNCTION find_memberships(text), person_memberships(text),
  users_join_person(), users_share_password() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION find_memberships(text), person_memberships(text)
  TO accounting_app;

-- The life of an account: a user's role changes, a user is deactivated or removed, a
-- password changes, a user signs out. Each ends the user's tokens at once: a token names
-- the user's token_version, and the first statement of each of a request's transactions
-- checks it against the row (app_check_session).

ALTER TABLE users ADD COLUMN token_version integer NOT NULL DEFAULT 0
  CHECK (token_version >= 0);
ALTER TABLE users ADD COLUMN deactivated_at timestamptz;
-- A removed user keeps its row (audit events and entries name it) but loses its login.
ALTER TABLE users ADD COLUMN removed_at timestamptz;

-- Whatever changes what a token stands for (the role, the password, being active or a
-- member at all) moves the version on, whoever writes the row; the version never goes
-- back, so an ended token cannot come back to life.
CREATE FUNCTION users_end_tokens() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.token_version < OLD.token_version THEN
    RAISE EXCEPTION 'a user''s token version never goes back'
      USING ERRCODE = 'check_violation', CONSTRAINT = 'token_version_forward';
  END IF;
  IF OLD.removed_at IS NOT NULL THEN
    RAISE EXCEPTION 'user % has been removed', OLD.id
      USING ERRCODE = 'object_not_in_prerequisite_state', CONSTRAINT = 'user_removed';
  END IF;
  IF NEW.role IS DISTINCT FROM OLD.role
     OR NEW.password_hash IS DISTINCT FROM OLD.password_hash
     OR NEW.deactivated_at IS DISTINCT FROM OLD.deactivated_at
     OR NEW.removed_at IS DISTINCT FROM OLD.removed_at THEN
    NEW.token_version := greatest(NEW.token_version, OLD.token_version + 1);
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER users_end_tokens BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION users_end_tokens();

-- Run inside the request's first statement, after the tenant is set: refuses a token
-- whose user is gone, inactive, of another organization, or has moved on since.
CREATE FUNCTION app_check_session(p_user text, p_version integer) RETURNS void
  LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM 1 FROM users
   WHERE id = p_user AND organization_id = app_current_org() AND token_version = p_version
     AND deactivated_at IS NULL AND removed_at IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the access token has ended'
      USING CONSTRAINT = 'session_ended';
  END IF;
END $$;

-- A removed user's e-mail leaves the login directory (which the app may not read or
-- delete from): the address may then join another organization, or this one again.
CREATE FUNCTION release_login(p_user text) RETURNS void
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  DELETE FROM user_logins WHERE user_id = p_user AND organization_id = app_current_org()
$$;
REVOKE ALL ON FUNCTION release_login(text) FROM PUBLIC;

GRANT UPDATE (role, password_hash, token_version, deactivated_at, removed_at) ON users
  TO accounting_app;
GRANT EXECUTE ON FUNCTION app_check_session(text, integer), release_login(text)
  TO accounting_app;

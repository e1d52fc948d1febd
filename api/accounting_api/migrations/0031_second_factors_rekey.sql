-- Second factors move to the current key of the platform key ring with the webhook secrets:
-- `accounting-api webhooks rekey` and each worker pass reseal every factor (confirmed or
-- pending) that another key sealed, so that an old key can leave the ring once the rekey
-- reports nothing left (docs/webhook-secrets.md, "Rotating the key"). Until now a factor
-- moved only when its owner signed in with a code.
--
-- Both functions act on every person, not on one organization's members: resealing is the
-- platform's, like the key ring. They give the application role nothing it could not
-- already reach: it holds the key ring and may act for any organization's members.

-- The factors sealed under a key other than p_current, a page at a time (by e-mail, after
-- p_after), with what sealed them as it is now.
CREATE FUNCTION second_factors_to_reseal(p_current text, p_after text, p_limit integer)
  RETURNS TABLE (email text, secret_sealed text, pending_sealed text)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT f.email, f.secret_sealed, f.pending_sealed FROM second_factors f
   WHERE f.email > p_after
     AND (split_part(f.secret_sealed, ':', 1) <> p_current
          OR split_part(f.pending_sealed, ':', 1) <> p_current)
   ORDER BY f.email LIMIT p_limit $$;

-- A factor resealed: only if both columns are still what was read (a sign-in, an
-- enrolment or a removal in between wins, and the next pass looks again).
CREATE FUNCTION second_factor_reseal(
  p_email text, p_secret_was text, p_secret text, p_pending_was text, p_pending text
) RETURNS boolean
  LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  UPDATE second_factors
     SET secret_sealed = p_secret, pending_sealed = p_pending, updated_at = now()
   WHERE email = p_email
     AND secret_sealed IS NOT DISTINCT FROM p_secret_was
     AND pending_sealed IS NOT DISTINCT FROM p_pending_was
  RETURNING true $$;

REVOKE ALL ON FUNCTION second_factors_to_reseal(text, text, integer),
  second_factor_reseal(text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION second_factors_to_reseal(text, text, integer),
  second_factor_reseal(text, text, text, text, text) TO accounting_app;

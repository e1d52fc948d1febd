-- The policies meant for the SECURITY DEFINER functions matched `current_user <>
-- session_user`. The application's login role is a member of accounting_app, so it
-- could `SET ROLE accounting_app` and match them too: every tenant's stored idempotent
-- answers, webhook endpoints (their signing secrets) and audit events, and updates of
-- stored answers. They now name the role those functions run as: their owner, the role
-- that runs the migrations, known here. The application's roles can never become it.
DO $$
DECLARE
  definer name;
  owners bigint;
  policy record;
BEGIN
  SELECT count(DISTINCT proowner), min(pg_get_userbyid(proowner)) INTO owners, definer
    FROM pg_proc WHERE prosecdef AND pronamespace = 'public'::regnamespace;
  IF owners <> 1 THEN
    RAISE EXCEPTION 'the SECURITY DEFINER functions have % owners; the policies need one',
      owners;
  END IF;
  FOR policy IN
    SELECT tablename, policyname, cmd FROM pg_policies
     WHERE schemaname = 'public'
       AND (qual ILIKE '%session_user%' OR with_check ILIKE '%session_user%')
  LOOP
    IF policy.cmd = 'INSERT' THEN
      EXECUTE format('ALTER POLICY %I ON %I WITH CHECK (current_user = %L)',
                     policy.policyname, policy.tablename, definer);
    ELSE
      EXECUTE format('ALTER POLICY %I ON %I USING (current_user = %L)',
                     policy.policyname, policy.tablename, definer);
    END IF;
  END LOOP;
END $$;

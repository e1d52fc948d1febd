-- A credit note takes revenue back by its own date (issue 11): what it takes of a
-- piece due after that date comes from deferred revenue even when the worker has
-- already posted the piece. Such a posted piece records the part credited, as a
-- pending one does, and the credit note posts the reversal of that part; a posted
-- piece may end credited in full (it stays recognized, its revenue all reversed).
-- Expand only: the previous version credits pending pieces alone, which this allows.
ALTER TABLE revenue_recognitions DROP CONSTRAINT recognition_credited_pending;

CREATE OR REPLACE FUNCTION check_recognition_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'revenue recognition rows are never deleted'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF NEW.amount_credited <> OLD.amount_credited
     AND (OLD.status NOT IN ('pending', 'recognized')
          OR NEW.amount_credited < OLD.amount_credited) THEN
    RAISE EXCEPTION 'revenue recognition % is %: only a pending or recognized piece is credited',
      OLD.id, OLD.status USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF (OLD.status, NEW.status) NOT IN (('pending', 'recognized'), ('pending', 'cancelled'),
                                      ('recognized', 'reversed'), ('pending', 'pending'),
                                      ('recognized', 'recognized')) THEN
    RAISE EXCEPTION 'revenue recognition % cannot go from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END $$;

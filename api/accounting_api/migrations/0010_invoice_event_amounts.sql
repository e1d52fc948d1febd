-- Invoice events carry what credit notes did (0007) as the API's invoice does: what was
-- credited, what credit was applied, and what remains to be paid, so a receiver never
-- has to call back to know whether an invoice is settled.
CREATE OR REPLACE FUNCTION invoice_event_data(i invoices) RETURNS jsonb
  LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('object', 'invoice', 'id', i.id, 'number', i.number,
    'customer', i.customer_id, 'currency', i.currency, 'status', i.status, 'total', i.total,
    'amount_paid', i.amount_paid, 'amount_credited', i.amount_credited,
    'amount_credit_applied', i.amount_credit_applied,
    'amount_remaining', i.total - i.amount_paid - i.amount_credit_applied,
    'issue_date', i.issue_date, 'due_date', i.due_date) $$;

-- Tax rates in parts per million of a line's amount after discount (8.875 % is 88750),
-- so rates with up to four decimals of a percent, such as New York City's 8.875 %, are
-- exact; whole basis points (tax_rate_bp, 0002) could not express them.
--
-- The expand step of tax_rate_bp -> tax_rate_ppm (docs/migrations.md): this version
-- reads tax_rate_ppm and writes both (tax_rate_bp gets the rate to the nearest basis
-- point, for the previous version only). The previous version writes tax_rate_bp alone:
-- the trigger below fills tax_rate_ppm from it. The contract step, once no version that
-- may run reads or writes tax_rate_bp, sets tax_rate_ppm NOT NULL and drops tax_rate_bp.
--
-- A rate in basis points is the same rate in ppm times 100, and the tax is
-- round_half_up(net x rate): the same rational number, so the same tax to the cent.
-- Existing lines keep their stored amounts untouched; only the new column is filled.
ALTER TABLE invoice_lines
  ADD COLUMN tax_rate_ppm integer CHECK (tax_rate_ppm BETWEEN 0 AND 1000000);

CREATE FUNCTION fill_invoice_line_tax_rate_ppm() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.tax_rate_ppm IS NULL THEN
    NEW.tax_rate_ppm := NEW.tax_rate_bp * 100;
  END IF;
  RETURN NEW;
END $$;

-- Lines are only inserted and deleted (never updated) by either version.
CREATE TRIGGER invoice_lines_fill_tax_rate_ppm BEFORE INSERT ON invoice_lines
  FOR EACH ROW EXECUTE FUNCTION fill_invoice_line_tax_rate_ppm();

-- The lines of finalized invoices are fixed (invoice_lines_draft_only) and every tenant's
-- rows are hidden from this role by forced row-level security: both lifted for the
-- backfill, in this transaction only.
ALTER TABLE invoice_lines DISABLE TRIGGER invoice_lines_draft_only;
ALTER TABLE invoice_lines NO FORCE ROW LEVEL SECURITY;
-- backfill:begin
UPDATE invoice_lines SET tax_rate_ppm = tax_rate_bp * 100 WHERE tax_rate_ppm IS NULL;
-- backfill:end
ALTER TABLE invoice_lines FORCE ROW LEVEL SECURITY;
ALTER TABLE invoice_lines ENABLE TRIGGER invoice_lines_draft_only;

"""Sales tax and VAT: tax groups, jurisdictions and their dated rates (models), the one
rounding rule (rounding), and the TaxProvider that computes a document's line taxes
(provider). docs/tax.md is the reference."""

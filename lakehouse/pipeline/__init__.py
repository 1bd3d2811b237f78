"""Building the lake: bronze loaded from Capture files, then dbt (silver, gold)."""

-- Business rules (issue 3): events later than the allowed lateness are still scored, flagged is_late;
-- enrichment rules add tags and derived fields (stored as text).

ALTER TABLE scored_events ADD COLUMN IF NOT EXISTS is_late Bool DEFAULT false;

---

ALTER TABLE scored_events ADD COLUMN IF NOT EXISTS tags Array(LowCardinality(String)) DEFAULT [];

---

ALTER TABLE scored_events ADD COLUMN IF NOT EXISTS derived Map(String, String) DEFAULT map();

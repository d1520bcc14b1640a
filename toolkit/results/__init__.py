"""Results: plain records, an atomic store, and reports (table, JUnit, JSON, CSV)."""

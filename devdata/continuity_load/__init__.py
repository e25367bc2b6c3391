"""Many sold subscriptions with their due shipments, loaded with PostgreSQL COPY, for the
batch benchmark (`generate_continuity_load`). `generate` is the entry point; the other
modules write one family of rows each."""

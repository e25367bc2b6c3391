"""Data for development, demos and benchmarks: the demo data, the large customer and
continuity load generators, and their commands. Installed only when DEVDATA_ENABLED is
on (by default with DEBUG), so that a production deployment has none of it."""

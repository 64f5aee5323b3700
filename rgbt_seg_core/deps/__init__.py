"""Third-party packages at the edge of the core: the oldest versions it works with (checked on import) and the
optional inference runtimes (imported only when their backend is chosen, with their telemetry off)."""

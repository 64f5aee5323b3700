"""Training: configuration (dataclass <-> YAML <-> --set) and the loop (SPEC §3)."""

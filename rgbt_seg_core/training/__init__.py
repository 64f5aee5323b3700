"""Training: configuration (dataclass <-> YAML <-> --set) and the loop (RSFNet §III-F, §IV-B)."""

"""Health levels, numbered as diagnostic_msgs/DiagnosticStatus numbers them, so the node passes them through."""

__all__ = ["OK", "WARN", "ERROR"]

OK, WARN, ERROR = 0, 1, 2

"""The ceremony screens, one module each; none decides anything (they call the service)."""

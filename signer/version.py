"""The software version, recorded in every session's first log entry."""

VERSION = "0.1.0"

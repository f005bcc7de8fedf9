"""The ceremony log (DESIGN §5): the only package that reads and writes its format.

``CeremonyLog`` appends (write-ahead, I2) and signs checkpoints; ``verify_log`` verifies a log
file end to end; ``recovery`` handles a crash tail; ``events`` are the typed entries the
service writes; ``read`` holds the readers the shells and the report use.
"""

from signer.store.log.entries import (
           CHECKPOINT_TYPE,
           MAX_LINE_BYTES,
           Entry,
           check_time,
           find_secret_key,
)
from signer.store.log.verify import LogReport, verify_log
from signer.store.log.writer import CeremonyLog

__all__ = ["CHECKPOINT_TYPE", "MAX_LINE_BYTES", "CeremonyLog", "Entry", "LogReport", "check_time",
           "find_secret_key", "verify_log"]

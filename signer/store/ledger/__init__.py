"""The issuance ledger (``db.Ledger``) and its typed rows (``rows``): the only SQL in HOME."""

from signer.store.ledger.crl_verbs import LEDGER_CRL_MAX
from signer.store.ledger.db import Ledger
from signer.store.ledger.rows import (
    SCHEMA_VERSION,
    BatchRow,
    CARecord,
    CertRow,
    CRLRow,
    RARow,
    RequestRow,
    RevocationRequestRow,
)

__all__ = ["LEDGER_CRL_MAX", "SCHEMA_VERSION", "BatchRow", "CARecord", "CRLRow", "CertRow", "Ledger", "RARow",
           "RequestRow", "RevocationRequestRow"]

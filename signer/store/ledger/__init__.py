"""The issuance ledger (``db.Ledger``) and its typed rows (``rows``): the only SQL in HOME."""

from signer.store.ledger.crl_verbs import LEDGER_CRL_MAX
from signer.store.ledger.db import Ledger
from signer.store.ledger.rows import (
    CA_CERT_PROFILES,
    SCHEMA_VERSION,
    BatchRow,
    CARecord,
    CertRow,
    CRLRow,
    OcspRow,
    RARow,
    RequestRow,
    RevocationRequestRow,
)

__all__ = ["CA_CERT_PROFILES", "LEDGER_CRL_MAX", "SCHEMA_VERSION", "BatchRow", "CARecord", "CRLRow",
           "CertRow", "Ledger", "OcspRow", "RARow", "RequestRow", "RevocationRequestRow"]

"""The signer's error hierarchy: one base, one-line messages, mapped to exit 1 by the CLI."""


class SignerError(Exception):
    """Base of every refusal or failure the signer reports to an operator."""


class ConfigError(SignerError):
    """signer.toml is missing, malformed, or has an unknown key or wrong type."""


class UsageError(SignerError):
    """The command was called in a way the contract does not allow (exit 2)."""


class PolicyError(SignerError):
    """A check refused something; carries the check code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class LedgerError(SignerError):
    """The issuance ledger refused a write or is inconsistent."""


class LogError(SignerError):
    """The ceremony log is damaged, does not verify, or could not be appended."""


class LintError(SignerError):
    """pkilint found an ERROR or FATAL finding in a certificate or CRL."""


class AirGapError(SignerError):
    """A network interface is up on a non-rehearsal appliance."""

"""A private key's attributes as read back from the token, judged against I1.

I1 (revised for issue 13): a CA key is a private, sensitive token object that is never
extractable, or extractable only under a trusted wrap (CKA_EXTRACTABLE together with
CKA_WRAP_WITH_TRUSTED, so the token refuses to wrap it under any key but the SO-imported
trusted backup key). Custody problems are never waived. Origin problems (the key was not
generated in this token, or was not always sensitive) are what a key restored from a backup
shows; ``hsm.token.Token.signing_key`` waives them only against the public key recorded in
the backup, so that an imported key can never pass as a restored one unnoticed.

What attributes cannot tell: CKA_WRAP_WITH_TRUSTED may be switched on after creation, so a key
that was extractable without it, and then had it set, looks like a backup-home key. The proof
that a key had it from the start is its generation record in the ceremony log.

Pure: a frozen record; ``hsm.p11`` reads the values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class KeyAttributes:
    """A private key's attributes as read back from the token."""

    label: str
    algorithm: str
    key_id: str
    token: bool
    private: bool
    sensitive: bool
    always_sensitive: bool
    extractable: bool
    never_extractable: bool
    local: bool
    sign: bool
    wrap_with_trusted: bool = False
    always_authenticate: bool = False

    @property
    def custody_problems(self) -> list[str]:
        """Ways the key could leave or be read: never acceptable (I1)."""
        out = []
        if not self.token:
            out.append("not a token object")
        if not self.private:
            out.append("not private")
        if not self.sensitive:
            out.append("not sensitive")
        if self.extractable and not self.wrap_with_trusted:
            out.append("extractable without CKA_WRAP_WITH_TRUSTED (could be wrapped under any key)")
        if not self.never_extractable and not self.wrap_with_trusted and not self.extractable:
            out.append("was extractable once")
        return out

    @property
    def origin_problems(self) -> list[str]:
        """Signs that the key came from outside (a restore, or an import)."""
        out = []
        if not self.always_sensitive:
            out.append("was not always sensitive")
        if not self.local:
            out.append("not generated in the token")
        return out

    @property
    def problems(self) -> list[str]:
        """Every way this key breaks I1, empty when it is safe to use as a CA key."""
        return self.custody_problems + self.origin_problems

    @property
    def safe(self) -> bool:
        return not self.problems

    @property
    def wrappable(self) -> bool:
        """The token would wrap this key, and only under a trusted key (a backup home's key)."""
        return self.extractable and self.wrap_with_trusted

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["safe"] = self.safe
        d["problems"] = self.problems
        return d

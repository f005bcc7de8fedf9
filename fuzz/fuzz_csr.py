"""atheris: CSR intake (signer.core.policy.evaluate) -> a verdict with reasons, never an exception."""

from __future__ import annotations

import _common  # noqa: F401 - sets sys.path
import atheris

with atheris.instrument_imports():
    from signer.core import policy

LEAVES = frozenset({"server", "client", "email"})
CTX = policy.PolicyContext(
    issuers={"class1": policy.IssuerInfo("class1", False, 0, "00" * 32, LEAVES)},
    profiles={p.name: p for p in (policy.ProfileRules("server", "server", 398, 180),
                                  policy.ProfileRules("client", "client", 730, 180),
                                  policy.ProfileRules("email", "email", 730, 180))},
    root_may_issue_leaves=False, key_owner=lambda spki: None)


def target(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    profile = fdp.PickValueInList(["server", "client", "email"])
    dns = tuple(fdp.ConsumeUnicodeNoSurrogates(40) for _ in range(fdp.ConsumeIntInRange(0, 3)))
    csr = fdp.ConsumeBytes(fdp.remaining_bytes())
    req = policy.Request(id="f", ca="class1", profile=profile, csr=csr, subscriber="m",
                         verified=policy.VerifiedFacts(dns=dns, email=(), name=None, points=0))
    d = policy.evaluate(req, CTX)
    assert d.accepted or d.reasons


if __name__ == "__main__":
    _common.run(target)

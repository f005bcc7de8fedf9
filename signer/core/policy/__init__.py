"""The policy engine (DESIGN §4): a verdict, with every reason, for each certificate request.

Modules: ``engine`` (evaluate a request and a batch), ``checks`` (the stable check codes and
docs/checks.md), ``model`` (requests, rules, decisions), ``csr`` (strict CSR parsing),
``names`` and ``syntax`` (names against verified facts; DNS and e-mail syntax), ``keys``,
``keys_rsa``, ``key_rules``, ``key_findings`` and ``blocklist`` (subscriber keys), ``limits``
(what a result bundle can carry). Pure: no I/O, no clock, no randomness.
"""

from signer.core.policy.engine import (
    CHECK_DOCS,
    Check,
    Decision,
    IssuerInfo,
    PolicyContext,
    ProfileKind,
    ProfileRules,
    Reason,
    Request,
    ResultLimits,
    VerifiedFacts,
    enforce,
    evaluate,
    evaluate_batch,
    parse_csr,
    render_markdown,
)

__all__ = [
    "CHECK_DOCS", "Check", "Decision", "IssuerInfo", "PolicyContext", "ProfileKind",
    "ProfileRules", "Reason", "Request", "ResultLimits", "VerifiedFacts", "enforce", "evaluate",
    "evaluate_batch", "parse_csr", "render_markdown",
]

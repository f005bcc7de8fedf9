"""The indexed pkilint dispatch gives pkilint's exact findings (signer.core.lint_dispatch).

Each document of a corpus of good and bad certificates and CRLs is linted twice: by a
container exactly as pkilint builds it, and by the appliance's indexed one. The results must be
the same validators, on the same nodes, with the same findings and messages, in the same order.
"""

from __future__ import annotations

import pytest

from signer.core import lint
from signer.core.lint_dispatch import REVIEWED_VERSION, index_container
from tests.signer import lint_corpus

CERTIFICATES = 240
CRLS = 40


def _results(container, der: bytes, kind: str) -> list[tuple[str, str, str, str, str | None]]:
    loader = lint._pkilint().loader
    doc_loader = (loader.RFC5280CertificateListDocumentLoader() if kind == "crl"
                  else loader.RFC5280CertificateDocumentLoader())
    doc = doc_loader.load_der_document(der, "doc")
    out = []
    for r in container.validate(doc.root):
        for fd in r.finding_descriptions or [None]:
            out.append((r.validator.name, r.node.path,
                        "" if fd is None else str(fd.finding.severity),
                        "" if fd is None else fd.finding.code,
                        None if fd is None else fd.message))
    return out


@pytest.fixture(scope="module")
def corpus() -> list[tuple[bytes, str]]:
    docs = list(lint_corpus.certificates(CERTIFICATES))
    docs += [(d, "crl") for d in lint_corpus.crls(CRLS)]
    return docs


def test_the_corpus_has_good_and_bad_documents_of_every_kind(corpus):
    verdicts: dict[str, set[bool]] = {}
    for der, kind in corpus:
        bad = any(f.severity in ("ERROR", "FATAL") for f in lint.lint_der(der, kind))
        verdicts.setdefault(kind, set()).add(bad)
    assert set(verdicts) == {"server", "pkix", "email-mailbox", "email-individual", "crl"}
    # The profiles never make an individual-validated S/MIME certificate: those are all bad.
    assert all(v == {True, False} for k, v in verdicts.items() if k != "email-individual")
    assert verdicts["email-individual"] == {True}


def test_indexed_dispatch_gives_pkilints_exact_results(corpus):
    assert lint._pkilint().version == REVIEWED_VERSION
    stock = {k: lint.build_validator(k) for k in lint.LINTER_KINDS}
    # The containers the appliance lints with: indexed, one Public Suffix List shared.
    indexed = {k: lint._validator(k) for k in lint.LINTER_KINDS}
    compared = 0
    for der, kind in corpus:
        want = _results(stock[kind], der, kind)
        assert _results(indexed[kind], der, kind) == want
        compared += len(want)
    assert compared > 10 * len(corpus)  # validators really ran on every document


def test_an_unreviewed_pkilint_keeps_every_override_asked(corpus):
    """With another pkilint version, validators whose match() is overridden are asked at every
    node (only NodeVisitor.match is pre-filtered); the findings are still pkilint's."""
    der, kind = next((d, k) for d, k in corpus if k == "server")
    stock = lint.build_validator(kind)
    other = lint.build_validator(kind)
    index_container(other, "0.0.0-unreviewed")
    assert _results(other, der, kind) == _results(stock, der, kind)

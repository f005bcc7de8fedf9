"""pkilint's validator dispatch, indexed by node path and type, with the same verdicts.

pkilint walks a document and, at every node, asks every validator of a container whether it
``match``es: about 6,000 calls per certificate, half of a lint's time. Most validators say
no from their path or their ASN.1 class alone (``NodeVisitor.match`` checks ``path``,
``path_re`` and ``pdu_class`` before anything else, with no side effects). So each container
remembers, per (node path, node class), which of its validators can possibly match, in their
original order, and calls the full ``match`` of those only. The results are the same objects
in the same order as pkilint's own walk; ``tests/signer/test_lint_dispatch.py`` proves it on a
corpus of good and bad documents, and docs/upstream/pkilint-indexed-dispatch.md offers the
change upstream.

A validator is pre-filtered only when its ``match`` is ``NodeVisitor.match``, or an override
reviewed to call it first and return False when it does (``_REVIEWED``, for the pkilint version
in ``REVIEWED_VERSION``); any other validator is asked at every node, as before.

Deliberately not done: changing what any validator does, or skipping a node.
"""

from __future__ import annotations

import types
from typing import Any

# Overrides of ``match`` that begin with ``super().match(node)`` (``if not ...: return False``
# or ``return super().match(node) and ...``), read in pkilint 0.13.3.
REVIEWED_VERSION = "0.13.3"
_REVIEWED = frozenset({
    "pkilint.validation.TypeMatchingValidator",
    "pkilint.pkix.extension.ExtensionCriticalityValidator",
    "pkilint.pkix.certificate.certificate_extension.ExtendedKeyUsageCriticalityValidator",
    "pkilint.cabf.cabf_name.ValidCountryCodeValidatorBase",
})
_CACHE_LIMIT = 20_000  # (path, class) keys per container; paths are bounded by document shape


def _prefilterable(v: Any, node_visitor: type, reviewed: bool) -> bool:
    for cls in type(v).__mro__:
        if cls is node_visitor:
            return True
        if "match" in cls.__dict__ and not (
                reviewed and f"{cls.__module__}.{cls.__qualname__}" in _REVIEWED):
            return False
    return False


def _may_match(v: Any, path: str, pdu_type: type) -> bool:
    """What ``NodeVisitor.match`` decides from the path and the class alone."""
    if v._path is not None and v._path != path:
        return False
    if v._path_re is not None and v._path_re.match(path) is None:
        return False
    return v._pdu_class is None or issubclass(pdu_type, v._pdu_class)


def index_container(container: Any, version: str) -> None:
    """Give ``container`` and every container inside it the indexed walk (in place)."""
    from pkilint.document import NodeVisitor
    from pkilint.validation import ValidatorContainer

    reviewed = version == REVIEWED_VERSION
    seen: set[int] = set()

    def visit(c: Any) -> None:
        if id(c) in seen:
            return
        seen.add(id(c))
        validators = list(c.validators)
        fixed = [_prefilterable(v, NodeVisitor, reviewed) for v in validators]
        cache: dict[tuple[str, type], tuple[Any, ...]] = {}

        def candidates(path: str, pdu_type: type) -> tuple[Any, ...]:
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
            found = tuple(v for v, f in zip(validators, fixed, strict=True)
                          if not f or _may_match(v, path, pdu_type))
            cache[(path, pdu_type)] = found
            return found

        def validate_rec(self: Any, node: Any, results: list[Any]) -> None:
            key = (node.path, type(node.pdu))
            todo = cache.get(key)
            if todo is None:
                todo = candidates(*key)
            for v in todo:
                if v.match(node):
                    result = v.validate_wrapper(node)
                    if isinstance(result, list):
                        results += result
                    else:
                        results.append(result)
            for child in node.children.values():
                self._validate_rec(child, results)

        c._validate_rec = types.MethodType(validate_rec, c)
        for v in validators:
            if isinstance(v, ValidatorContainer):
                visit(v)

    visit(container)


__all__ = ["REVIEWED_VERSION", "index_container"]

"""An error shows the user what failed, in words, never a Python exception class name
(issue 15): the TUI's error line, the CLI's one line, and messages built from third-party
exceptions."""

from __future__ import annotations

import re

import pytest

from hsm.errors import HSMError
from signer.cli import app
from signer.errors import SignerError
from signer.store.blocklist import load_blocklist
from signer.tui.widgets import one_line
from tests.signer.test_blocklist import write_cache
from transfer.errors import TransferError

CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b")


@pytest.mark.parametrize(("exc", "said"), [
    (SignerError(), "refused (no reason was given)"),
    (HSMError(), "the token failed (it gave no reason)"),
    (TransferError(""), "the transfer failed (it gave no reason)"),
    (SignerError("ledger   refused\n the write"), "ledger refused the write"),
])
def test_the_tui_error_line_never_names_a_class(exc, said):
    assert one_line(exc) == said and not CLASS_NAME.search(one_line(exc))


def test_the_cli_line_never_names_a_class(monkeypatch, capsys):
    def fails(args):
        raise SignerError()

    monkeypatch.setitem(app.COMMANDS, "ca", fails)
    assert app.main(["ca", "list"]) == 1
    err = capsys.readouterr().err
    assert err == "signer: error: refused (no reason was given)\n"


def test_a_damaged_blocklist_is_described_not_named(tmp_path):
    d = write_cache(tmp_path / "badkeys")
    (d / "badkeysdata.json").write_text("{not json")
    with pytest.raises(SignerError) as err:
        load_blocklist(d)
    assert "not badkeys metadata" in str(err.value) and not CLASS_NAME.search(str(err.value))

"""The command line (DESIGN §5): one module per group of verbs, over ``signer.service``."""

from signer.cli.app import main

__all__ = ["main"]

"""``python -m signer.core.policy --markdown``: print docs/checks.md (generated, never edited)."""

import argparse
import sys

from signer.core.policy.checks import render_markdown

parser = argparse.ArgumentParser(prog="python -m signer.core.policy")
parser.add_argument("--markdown", action="store_true", help="print docs/checks.md")
if not parser.parse_args().markdown:
    parser.print_help()
    sys.exit(2)
sys.stdout.write(render_markdown())

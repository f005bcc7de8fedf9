"""``python -m signer.cli``: the same as the ``signer`` command."""

import sys

from signer.cli.app import main

sys.exit(main())

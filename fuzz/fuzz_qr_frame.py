"""atheris: QR frame text (transfer.qr.Receiver.feed) -> a status, never an exception."""

from __future__ import annotations

import _common
import atheris

with atheris.instrument_imports():
    from transfer.qr import PREFIX, Receiver


def target(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    rx = Receiver()
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        text = fdp.ConsumeUnicodeNoSurrogates(400)
        if fdp.ConsumeBool():
            text = PREFIX + text
        rx.feed(text)


if __name__ == "__main__":
    _common.run(target)

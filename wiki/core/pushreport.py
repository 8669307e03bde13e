"""What git answered a push: receive-pack's report, read from the answer the wiki relays.

The git endpoint streams `git http-backend`'s answer to the pusher. A push's answer ends with
git's report-status: "unpack ok" (or the unpack error), then "ok <ref>" or "ng <ref> <reason>"
for each ref, in pkt-lines, inside side-band channel 1 when the client asked for side-band (every
git client does). Reading it gives the push's real outcome, whoever refused it: the wiki's rules
in the pre-receive hook (core/receive.py), the checkout hook, or git itself (not a fast-forward,
a damaged pack).
"""

from __future__ import annotations

from typing import Iterator

from .metrics import PushOutcome

_BANDS = (b"\x01", b"\x02", b"\x03")  # data (the report), progress, error


def _pkt_lines(data: bytes) -> Iterator[bytes]:
    """The payloads of the pkt-lines in data (b"" for flush and delimiter packets); stops at a torn one."""
    pos = 0
    while pos + 4 <= len(data):
        try:
            size = int(data[pos:pos + 4], 16)
        except ValueError:
            return
        if size < 4:  # 0000 flush, 0001 delimiter, 0002 response end
            pos += 4
            yield b""
            continue
        if pos + size > len(data):
            return
        yield data[pos + 4:pos + size]
        pos += size


def push_outcome(answer: bytes) -> PushOutcome | None:
    """ACCEPTED when git unpacked the push and updated every ref, REFUSED when it did not, None when
    the answer holds no report (not a push, or cut short)."""
    packets = list(_pkt_lines(answer))
    if any(p[:1] in _BANDS for p in packets):
        report = b"".join(p[1:] for p in packets if p[:1] == b"\x01")
        packets = list(_pkt_lines(report))
    lines = [p.rstrip(b"\n") for p in packets if p]
    unpack = [line for line in lines if line.startswith(b"unpack ")]
    refs = [line for line in lines if line.startswith((b"ok ", b"ng "))]
    if not unpack or not refs:
        return None
    if unpack[0] == b"unpack ok" and all(line.startswith(b"ok ") for line in refs):
        return PushOutcome.ACCEPTED
    return PushOutcome.REFUSED

"""How audio bytes are encoded on the wire and in capture files."""

from __future__ import annotations

from enum import IntEnum

#: Audio as it comes: a frame's bytes, or a view of the socket's buffer (binary streams: a view
#: is copied by whoever keeps it, before the next message is read into that buffer).
Audio = bytes | memoryview


class Encoding(IntEnum):
    MULAW = 1  # G.711 μ-law, one byte a sample: Twilio Media Streams
    PCM16 = 2  # 16-bit little-endian linear PCM: jambonz, FreeSWITCH audio forks

    @property
    def width(self) -> int:
        """Bytes per sample."""
        return 1 if self is Encoding.MULAW else 2

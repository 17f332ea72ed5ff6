"""How audio bytes are encoded on the wire and in capture files."""

from __future__ import annotations

from enum import IntEnum


class Encoding(IntEnum):
    MULAW = 1  # G.711 μ-law, one byte a sample: Twilio Media Streams
    PCM16 = 2  # 16-bit little-endian linear PCM: jambonz, FreeSWITCH audio forks

    @property
    def width(self) -> int:
        """Bytes per sample."""
        return 1 if self is Encoding.MULAW else 2

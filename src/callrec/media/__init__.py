"""Audio: synthetic call audio, the capture file format, rendering a recording from its timeline,
WAV/MP3 encoding, and the live media hub that gates captured frames."""

"""callrec: a self-hosted, Twilio-compatible call-recording service."""

__version__ = "0.1.0"

"""Twilio-signed requests: the signature scheme (pure), used by stream handshakes and callbacks."""

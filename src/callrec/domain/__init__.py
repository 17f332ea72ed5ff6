"""The pure core: statuses, transitions and the recording timeline. No I/O, no Twilio codes."""

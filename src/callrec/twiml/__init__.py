"""TwiML: the documents an app answers a call with, parsed (pure)."""

"""Use cases: what callrec does for a request, tying the domain to storage.

HTTP ends in `callrec.api`; the rules live in `callrec.domain`; this package sequences them:
load, decide, store events and state in one transaction, then start the background work the
change calls for (a call to answer, a recording to finalize).
"""

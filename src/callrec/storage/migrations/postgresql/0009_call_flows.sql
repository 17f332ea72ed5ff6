-- What a call runs when it is answered (docs/ARCHITECTURE.md, "Call flows"): its TwiML's URL,
-- method and fallback, or the TwiML itself, as JSON (NULL: nothing to run, e.g. a call that a
-- media stream made). UpdateCall with Url or Twiml replaces it.
ALTER TABLE calls ADD COLUMN flow TEXT;

-- Where the flow is: the document being performed, the verb, the recording that verb started
-- (JSON). Written as each verb begins, so that a process that takes the call over goes on there.
ALTER TABLE calls ADD COLUMN flow_position TEXT;

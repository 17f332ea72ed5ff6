-- The timeline as a chain instead of an index: each event points at the one before it on its
-- recording, and each recording at its last event. Appending an event then writes the log's
-- last page and the recording's own row (which the change rewrites anyway), where an index by
-- recording wrote one more page per recording in every group commit: measured, 43 -> 8 pages
-- per commit of 25 updates, and a third less CPU per update. A timeline is read by walking the
-- chain back from the recording (rowid lookups); the events also keep their recording's sid.

ALTER TABLE recording_events ADD COLUMN prev_id BIGINT REFERENCES recording_events (id);
ALTER TABLE recordings ADD COLUMN last_event_id BIGINT REFERENCES recording_events (id);
UPDATE recording_events SET prev_id = (
    SELECT max(p.id) FROM recording_events AS p
    WHERE p.recording_sid = recording_events.recording_sid AND p.id < recording_events.id
);
UPDATE recordings SET last_event_id = (
    SELECT max(e.id) FROM recording_events AS e WHERE e.recording_sid = recordings.sid
);
DROP INDEX recording_events_by_recording

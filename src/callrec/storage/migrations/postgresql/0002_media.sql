-- Audio: where on the call's media clock each event took effect, and where a live stream took
-- over from synthetic audio.

ALTER TABLE recording_events ADD COLUMN media_at BIGINT;
ALTER TABLE calls ADD COLUMN stream_media_at BIGINT

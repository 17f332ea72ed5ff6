-- What a call's flow makes heard, on the call's media clock (docs/ARCHITECTURE.md, "Call
-- flows"): a <Play>'s audio on the outbound track (`played`: its decoded file under the data
-- directory's media/played/), the far end's scripted silence on the inbound track (no file).
-- The renderer lays them over a call's synthetic audio.
CREATE TABLE call_audio (
    id              INTEGER PRIMARY KEY,
    call_sid        TEXT NOT NULL,
    track           TEXT NOT NULL,
    start_at        BIGINT NOT NULL,
    end_at          BIGINT NOT NULL,
    played          TEXT
);
CREATE INDEX call_audio_by_call ON call_audio (call_sid, id);

-- A recording's next callback is found among its pending ones only: the index by recording
-- used to keep every callback ever sent, so finding the next one walked past all the delivered
-- ones (a recording's whole history, on every delivery), and each new row wrote to a page of its
-- own recording's run. Pending entries are few: their index stays small and its pages hot.

CREATE INDEX callbacks_pending_by_recording ON callbacks (recording_sid, id)
    WHERE state = 'pending';
DROP INDEX callbacks_by_recording

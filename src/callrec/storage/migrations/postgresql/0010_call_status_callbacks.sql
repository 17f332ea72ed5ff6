-- Call status callbacks (StatusCallback on CreateCall) leave through the same outbox as a
-- recording's: the outbox keeps each *subject*'s callbacks in order, a recording's or a call's.
ALTER TABLE callbacks RENAME COLUMN recording_sid TO subject_sid;

-- What the app asked to hear of the call's progress: StatusCallback, its method and events (JSON).
ALTER TABLE calls ADD COLUMN status_callback TEXT;

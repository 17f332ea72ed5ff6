-- The child call a <Dial> makes names its parent (`parent_call_sid`, direction `outbound-dial`).
ALTER TABLE calls ADD COLUMN parent_call_sid TEXT;
CREATE INDEX calls_by_parent ON calls (parent_call_sid) WHERE parent_call_sid IS NOT NULL;

-- What an alert says besides its message and resolution, as JSON
-- (crate::alert::AlertTexts): the Chinese texts of a rule that writes
-- `{en: ..., zh: ...}`, and the `resolved_message` rendered when it resolved.
-- Rows from before this release say nothing more: '{}'.
ALTER TABLE alerts ADD COLUMN texts TEXT NOT NULL DEFAULT '{}';

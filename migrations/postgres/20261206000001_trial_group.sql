-- The fused group a trial's latest attempt trains in: a JSON array of the
-- members' trial ids, itself among them; NULL when it trains alone.
ALTER TABLE trials ADD COLUMN group_members TEXT;

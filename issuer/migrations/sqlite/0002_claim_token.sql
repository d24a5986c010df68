-- The token of a job's current claim: a job claimed again since (another tab or PC signed in
-- as the same operator) refuses renewals and reports made under the old claim.
ALTER TABLE jobs ADD COLUMN claim_token TEXT;

"""Campaigns: queueing an email to an audience, its checkpointed dispatch, A/B winner mode,
pause/resume/cancel, retries and progress."""

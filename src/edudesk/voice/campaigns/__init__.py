"""Call campaigns: targets from lead filters, call windows with Chinese holidays, retries, the dialer and what a
call's outcome does to its lead (docs/voice.md, "Campaigns")."""

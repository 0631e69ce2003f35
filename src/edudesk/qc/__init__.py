"""Quality inspection (质检): rule sets, automatic inspection of closed conversations, scores, sampling and the
review workflow (review, appeal, decision). Reads the conversation areas; nothing below it imports it."""

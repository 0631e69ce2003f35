"""Visitors (访客): page views before any chat, where people came from, profiles and classification, live
visitors and proactive invitations. The contract is docs/visitors.md."""

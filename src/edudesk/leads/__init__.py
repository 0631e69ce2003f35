"""Leads (线索): what a visitor told the institution about themselves and their child, turned into a lead card."""

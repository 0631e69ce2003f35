"""Offline evaluation of the Chinese NLP parts (``edudesk eval …``): files in, metrics out, no database.

Each evaluation builds the component exactly as the live bot does (same code, same default thresholds), so the
figures describe what visitors get. Input formats are the stable contracts in the architecture, "File formats".
"""

"""Canned replies (快捷回复): shared and personal snippets agents insert with ``/shortcut``."""

"""edudesk: self-hosted customer service and lead conversion for education institutions."""

__version__ = "0.1.0"

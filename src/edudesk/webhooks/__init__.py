"""Signed outgoing webhooks: endpoints, the event outbox, delivery with retries and the delivery log."""

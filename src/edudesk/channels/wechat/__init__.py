"""The WeChat Official Account (公众号) channel: callbacks in (routes → callback → events → inbound), messages out
through the customer-service API with a template-message fallback (outbound). See docs/channels-wechat.md."""

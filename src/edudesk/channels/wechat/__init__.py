"""The WeChat Official Account (公众号) channel: callbacks in (routes → callback → events → inbound), messages out
through the customer-service API with a template-message fallback (outbound), and the admin pages for parametric
QR codes and the custom menu (admin_views, menu_editor, menu_actions). See docs/channels-wechat.md."""

"""WeChat customer service (微信客服) through WeCom: callback verification, the message pull with its cursor, the
welcome message of ``enter_session`` and sending through the customer-service API. See docs/channels-wecom.md."""

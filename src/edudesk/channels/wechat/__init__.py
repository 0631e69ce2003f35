"""The WeChat Official Account (公众号) channel: the adapter, and the admin pages for QR codes and the menu."""

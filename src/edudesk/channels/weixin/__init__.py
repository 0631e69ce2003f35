"""What the WeChat Official Account and WeCom (企业微信 / 微信客服) adapters share: the callback crypto, safe XML,
and access tokens cached for every instance."""

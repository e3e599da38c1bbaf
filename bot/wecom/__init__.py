"""The WeCom (企业微信) self-built app channel: callback, message API, sender."""

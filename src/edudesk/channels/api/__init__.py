"""The API channel (kind "api"): integrators post their users' messages and receive replies as signed webhooks."""

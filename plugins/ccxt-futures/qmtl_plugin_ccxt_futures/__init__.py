"""Connector plugin package; its connectors are registered by its own issue."""

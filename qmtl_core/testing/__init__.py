"""Test support for qmtl connectors and their plugins (a pytest plugin, ``pytest11``)."""

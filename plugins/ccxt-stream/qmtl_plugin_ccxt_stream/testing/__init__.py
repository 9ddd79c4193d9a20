"""Test support: a loopback Binance stand-in that ccxt.pro's real ``binance`` class talks to."""

from __future__ import annotations

from qmtl_plugin_ccxt_stream.testing.standin import BinanceStandIn, load_records

__all__ = ["BinanceStandIn", "load_records"]

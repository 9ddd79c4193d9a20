"""The ccxt layer every ccxt connector shares: a library, not a plugin.

``config.CcxtConfig`` (exchange, credentials, sandbox/demo, ccxt settings: the typed
config to extend), ``products`` (what spot and futures set on the exchange),
``venue.open_venue`` (exchange construction, environment routing, secret scrubbing,
error translation), ``client.CcxtClient`` (orders through the core's safety net),
``fees`` (maker/taker models). ``recorded`` and ``testing`` need the ``testing`` extra.
"""

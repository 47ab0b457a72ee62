"""iSCSI target helpers: how a volume's local path becomes a target that initiators log
in to (Cinder's target helpers, `target_helper = "tgtadm"`).

The package itself imports nothing: `app.drivers.base` reads the host address from
`address` while it loads, and the helpers import `app.drivers.base`.
"""

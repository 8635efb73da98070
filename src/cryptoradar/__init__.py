"""cryptoradar: real-time crypto market alerts over WebSockets."""

from cryptoradar.compiled import prefer_source_when_needed

__version__ = "0.1.0"

prefer_source_when_needed()

"""cryptoradar: real-time crypto market alerts over WebSockets."""

__version__ = "0.1.0"

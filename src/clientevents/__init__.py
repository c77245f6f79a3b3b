"""clientevents: authenticated client events, routed by EventBridge rules, delivered."""

__version__ = "0.1.0"

__all__ = ["__version__"]

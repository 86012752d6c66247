"""liveshop: a self-hosted live-streaming commerce platform."""

__version__ = "0.1.0"

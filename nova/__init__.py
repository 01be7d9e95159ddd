"""Nova: open-source voice-agent call orchestration runtime."""

__version__ = "0.1.0"

"""countonce: an exactly-once revenue effect from at-least-once order events."""

__version__ = "0.1.0"

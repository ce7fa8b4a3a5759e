"""The at-least-once loader: sources, validation, COPY into raw.order_events, offsets."""

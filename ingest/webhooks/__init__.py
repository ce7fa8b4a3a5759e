"""The HTTP endpoint for order events (`countonce serve`): signed webhooks, acknowledged once
their rows are committed in raw.order_events."""

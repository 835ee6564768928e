"""Live events: the hub (in-process or Redis), the announcements after a change, the agents' queue read-model."""

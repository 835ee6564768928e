"""Settings, typed errors, enums, local time, labels, YAML io, log setup: what every other package uses. No database."""

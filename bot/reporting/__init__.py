"""Figures for admins and operators: the admin figures, CSV exports, Prometheus metrics."""

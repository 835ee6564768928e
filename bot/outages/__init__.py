"""Notices (停水/停电…) and outage incidents: one incident for many reports, resolved once for every reporter."""

"""Tests of one package at a time, with real parts (a trained model, SQLite and PostgreSQL, Redis) but no server."""

"""Tests over real HTTP and WebSockets against a live server (or the app in-process), across packages."""

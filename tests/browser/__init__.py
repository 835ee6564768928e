"""Real browser walks, a file per page (Playwright driving Debian's Chromium against a live server)."""

"""Residents' voice: ``suggestions.py`` (建议: recorded with a number, listed for admins grouped by similarity,
answered in the resident's own conversation) and ``polls.py`` (投票: created by admins for a 小区 or some of its
buildings, offered in the chat with buttons or digits, one vote per household or per resident, counted live)."""

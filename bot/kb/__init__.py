"""The FAQ knowledge base (data/faq/*.yml): loading and checking it, rendering answers per 小区, admins' edits, and the 小区 configuration."""

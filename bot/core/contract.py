"""The fixed contract of the product spec: intent names and FAQ ids that may never be renamed."""
from __future__ import annotations

INTENTS = (
    "faq", "fee_lookup", "repair_request", "repair_status", "parking", "complaint", "emergency",
    "human_agent", "greet", "goodbye", "thanks", "affirm", "deny", "out_of_scope",
)

# Intents the product reads beyond the spec's: the held-out set (tests/heldout, frozen before they existed) covers
# exactly INTENTS, so these are kept apart, as bot/nlu/parser.py keeps "uncovered" apart. ``suggestion``: a
# resident's suggestion (建议, data/nlu/suggestions.yml), recorded with a number (bot/voice/suggestions.py).
PRODUCT_INTENTS = INTENTS + ("suggestion",)

FAQ_IDS = (
    "office_hours", "fee_standard", "payment_methods", "invoice", "fee_arrears_policy", "maintenance_fund",
    "parking_fee", "parking_monthly_card", "visitor_vehicle", "ev_charging", "access_card", "face_access",
    "renovation_permit", "renovation_hours", "renovation_waste", "garbage_sorting", "bulky_waste", "pets",
    "express_delivery", "move_in_out", "rental_registration", "utilities_account", "outage_notice",
    "elevator_maintenance", "ownership_transfer", "quiet_hours", "amenities", "greenery", "pest_control",
    "lost_and_found", "broadband", "cctv_footage", "owners_committee",
)

EMOTIONS = ("neutral", "anxious", "angry")

"""The boolean "topic" properties a sender declares (forms offer them as checkboxes)."""

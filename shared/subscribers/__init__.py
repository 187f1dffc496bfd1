"""Subscribers of a sender: storage, listing, bulk upsert, CSV import and GDPR erase."""

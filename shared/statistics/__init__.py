"""Read-only reporting for the API and the admin: sends with their events and reports,
statistics per email / variation / day / locale, bounces, complaints and DMARC reports."""

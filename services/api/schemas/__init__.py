"""Request and response models of the API: strict (unknown fields refused), documented."""

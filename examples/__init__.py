"""Example applications protected by rs_guard (the same routes in each framework)."""

"""Example applications protected by rs_guard (INTERFACE.md section 2)."""

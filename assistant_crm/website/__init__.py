"""Frappe website hooks of the app (page renderers); imported only under Frappe."""

"""Dash components: one module per page (layout, figures, callbacks) and shared widgets."""

"""Buttons, selects and modals. Every job action is one persistent DynamicItem template."""

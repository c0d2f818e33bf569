"""Runnable example flows and their tools.

Flow files name the tools by import path: ``examples.<module>:<tool>``.
"""

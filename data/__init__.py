"""Data layer: load, validate, lock-check and hold the trial's analysis datasets.

Imports flow one way: data -> analysis -> components -> app.py.
"""

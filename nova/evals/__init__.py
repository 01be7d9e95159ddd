"""Simulated calls: the real agent, in text mode, against personas, before it dials anyone."""

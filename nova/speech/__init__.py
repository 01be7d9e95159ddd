"""``nova speech``: offline speech-to-text and text-to-speech behind the OpenAI audio API.

A loopback HTTP server (``nova speech``) that the worker's existing STT/TTS settings point
at, so a self-hosted deployment needs no speech provider. Needs the ``local-speech`` extra.
"""

"""Cryptographic recipes: AEAD, key derivation, keys, X.509 and CMS/S-MIME.

The only package allowed to import `cryptography` (and PyJWT, for access tokens). It imports
nothing else from Égide. Other packages call its small, safe recipes and never touch primitives
themselves.
"""

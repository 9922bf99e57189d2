"""Shared library of the GUI backend, shipped to Lambda as the core layer.

Modules stay importable on their own: the authorizer imports `tokens` and `context` without
pulling in FastAPI or boto3, so nothing heavy is imported here.
"""

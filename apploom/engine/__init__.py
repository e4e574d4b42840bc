"""The AppLoom engine: pure Python, no web framework.

Everything a screen or an API call does, the engine can do from a test or a
command with a user and a database connection.
"""

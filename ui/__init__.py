"""The recchat chat app, installed as ``recchat.ui`` (see app.py)."""

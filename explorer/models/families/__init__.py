"""One module per network family: its blocks and its layout; the shared skeleton is in explorer.models.layers."""

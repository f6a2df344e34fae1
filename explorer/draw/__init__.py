"""Pictures of a built design: the overview and block graphs, the family tree, the torchinfo summary."""

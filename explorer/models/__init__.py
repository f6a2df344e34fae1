"""Designs as data and their PyTorch builds: spec, presets, layers, blocks, families, builder, cost."""

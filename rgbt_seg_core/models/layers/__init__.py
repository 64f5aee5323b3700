"""Blocks shared by both families: ECA, re-parameterisation transforms, export-friendly deformable ops."""

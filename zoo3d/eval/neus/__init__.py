"""A compact NeuS (Wang et al. 2021) used as a 3D-consistency probe (GRAM-HD Table 2)."""
